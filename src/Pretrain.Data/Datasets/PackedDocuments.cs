namespace Pretrain.Data.Datasets;

/// <summary>
/// Document segments of a packed block, for document-boundary-aware attention (recipe data.document_mask).
/// <para>
/// Decision: segments are read back from the EOS the packer writes after every document rather than shipped beside
/// each block, so blocks stay plain int[] and resume cursors need no extra state (pending tokens carry their EOS).
/// An EOS is the last token of its document; the next token starts a new one. Consequence: an EOS id inside a
/// pre-tokenized row also ends a segment there (the data itself marks a document end).
/// </para>
/// </summary>
public static class PackedDocuments
{
    /// <summary>
    /// For the inputs of one block (block[..^1]), each token's document index within the block (0 for the first,
    /// possibly partial, document) and its position within that document (0 at each document start, counting from
    /// the block start for the first document).
    /// </summary>
    public static (int[] DocumentIds, int[] Positions) Segments(ReadOnlySpan<int> inputs, int eosId)
    {
        var ids = new int[inputs.Length];
        var positions = new int[inputs.Length];
        int doc = 0, start = 0;
        for (int j = 0; j < inputs.Length; j++)
        {
            ids[j] = doc;
            positions[j] = j - start;
            if (inputs[j] == eosId)
            {
                doc++;
                start = j + 1;
            }
        }

        return (ids, positions);
    }
}
