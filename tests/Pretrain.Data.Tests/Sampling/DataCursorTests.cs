using System.Text.Json;
using Pretrain.Data.Sampling;

namespace Pretrain.Data.Tests.Sampling;

public sealed class DataCursorTests
{
    [Fact]
    public void JsonUsesSnakeCaseAndRoundTrips()
    {
        var cursor = new DataCursor(2, 1234, 7, 4, [5, 6, 7]);
        string json = cursor.ToJson();
        Assert.Equal("""{"epoch":2,"sample_in_epoch":1234,"seed":7,"world_size":4,"pending_tokens":[5,6,7]}""", json);
        Assert.Equal(cursor, DataCursor.FromJson(json));
        Assert.Equal(cursor, JsonSerializer.Deserialize<DataCursor>(json));
        Assert.Equal(DataCursor.Start(3, 2), new DataCursor(0, 0, 3, 2, []));
    }

    [Fact]
    public void BadJsonIsDataException() =>
        Assert.Throws<DataException>(() => DataCursor.FromJson("{\"epoch\": \"x\"}"));
}
