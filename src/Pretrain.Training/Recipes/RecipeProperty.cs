using System.Reflection;

namespace Pretrain.Training.Recipes;

/// <summary>One recipe key: its snake_case name, the property behind it, and whether it is required or nullable.</summary>
internal sealed record RecipeProperty(string Key, PropertyInfo Info, bool Required, bool Nullable)
{
    /// <summary>The property type without Nullable&lt;&gt;.</summary>
    public Type ValueType => System.Nullable.GetUnderlyingType(Info.PropertyType) ?? Info.PropertyType;
}
