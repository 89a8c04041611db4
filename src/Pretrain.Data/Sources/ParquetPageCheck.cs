using System.Buffers.Binary;
using System.Globalization;
using System.IO.Compression;
using Parquet.Meta;
using Parquet.Schema;

namespace Pretrain.Data.Sources;

/// <summary>Who may decode a column chunk that passed <see cref="ParquetPageCheck"/>.</summary>
internal enum PageDecoder
{
    /// <summary>Every page was read and checked as Parquet.Net will decode it.</summary>
    ParquetNet,

    /// <summary>A codec, encoding or page version this check does not vet: ParquetSharp (Arrow C++, which checks pages
    /// itself) reads the row group instead of Parquet.Net.</summary>
    ParquetSharp,
}

/// <summary>
/// Reads and checks the pages of one column chunk of a local file before Parquet.Net decodes them, the way Parquet.Net
/// will walk them (from the smallest non-zero page offset, page after page until the chunk's values are read).
/// Parquet.Net trusts every page: a damaged header or value stream ends in ArgumentOutOfRange, IndexOutOfRange or a
/// buffer sized by a damaged count (issue 10's fuzzing: 2.6 % of damaged files). Checked here: the page header's
/// Thrift encoding and required fields; page type; sizes non-negative and inside the file's data; the dictionary page
/// first and once; values per page summing to the chunk's, and for a flat column the chunk's to the row group's rows;
/// decompressed sizes equal to the declared ones (at most <see cref="MaxPageBytes"/>, and at most what the codec can
/// expand the stored bytes to); the repetition and definition levels' RLE/bit-packed runs (whole, levels in range,
/// exactly the page's count); PLAIN values (each length inside the page, as many as the defined levels say);
/// dictionary indexes (bit width, runs, every index inside the dictionary). Codecs checked: uncompressed, Snappy, gzip,
/// zstd, Brotli, LZ4_RAW and LZ4 (Parquet.Net decodes both as one raw LZ4 block; an LZ4 page in Hadoop framing, which Parquet.Net
/// cannot decode, goes to ParquetSharp); encodings: PLAIN, PLAIN_DICTIONARY, RLE_DICTIONARY; v1 pages and flat v2 pages. Anything else is valid Parquet
/// Parquet.Net may mis-decode unchecked, so it goes to ParquetSharp (<see cref="PageDecoder.ParquetSharp"/>).
/// Memory: one page's stored and decompressed bytes at a time.
/// </summary>
internal static class ParquetPageCheck
{
    /// <summary>Largest decompressed page accepted (writers make ~1 MiB pages; one value larger than this is not text).</summary>
    public const int MaxPageBytes = 256 << 20;

    /// <summary>Largest stored page accepted: <see cref="MaxPageBytes"/> and what a codec adds to incompressible data
    /// (Snappy at most ~1/6, deflate and zstd far less); the stored bytes are read before they are decompressed.</summary>
    public const int MaxStoredPageBytes = MaxPageBytes + (MaxPageBytes >> 2);

    private const int DataPage = 0, IndexPage = 1, DictionaryPage = 2, DataPageV2 = 3;
    private const int Plain = 0, PlainDictionary = 2, Rle = 3, RleDictionary = 8;
    private const int Uncompressed = 0, Snappy = 1, Gzip = 2, Brotli = 4, Lz4 = 5, Zstd = 6, Lz4Raw = 7;
    private const int Int32Type = 1, Int64Type = 2, ByteArray = 6;

    /// <summary>
    /// Checks the chunk of <paramref name="field"/> in row group <paramref name="rowGroup"/>; throws
    /// <see cref="InvalidDataException"/> saying which page and what is wrong (the caller names file, row group, column).
    /// </summary>
    public static PageDecoder Check(string path, FileMetaData meta, int rowGroup, DataField field)
    {
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1, FileOptions.None);
        return Check(stream, meta, rowGroup, field);
    }

    /// <summary>
    /// As <see cref="Check(string, FileMetaData, int, DataField)"/> over a seekable stream of the whole file (an http(s)
    /// file's block-cached range stream: only the chunk's pages are fetched, one page held at a time).
    /// </summary>
    public static PageDecoder Check(Stream stream, FileMetaData meta, int rowGroup, DataField field)
    {
        var group = meta.RowGroups[rowGroup];
        var wanted = field.Path.ToList();
        var chunk = group.Columns.Select(c => c.MetaData).FirstOrDefault(m => m?.PathInSchema is { } p && p.SequenceEqual(wanted));
        if (chunk is null)
            return PageDecoder.ParquetNet; // Parquet.Net says the column is missing (a ParquetException, no decoding)
        int type = (int)chunk.Type;
        // Text and binary (image bytes) are BYTE_ARRAY values, each PLAIN value a 4-byte length and its bytes.
        bool text = field.ClrType == typeof(string) || field.ClrType == typeof(ReadOnlyMemory<char>)
            || field.ClrType == typeof(byte[]) || field.ClrType == typeof(ReadOnlyMemory<byte>);
        int expected = text ? ByteArray : field.ClrType == typeof(long) ? Int64Type : field.ClrType == typeof(int) ? Int32Type : -1;
        // Parquet.Net derives the levels it decodes from the schema's repetition types; one Parquet does not define
        // (0 required, 1 optional, 2 repeated) makes them disagree with what this check reads.
        foreach (var element in meta.Schema)
        {
            if (element.RepetitionType is { } repetition && (int)repetition is < 0 or > 2)
                throw new InvalidDataException($"schema element '{element.Name?.ReplaceLineEndings(" ")}' declares repetition type {(int)repetition}, which Parquet does not define (0 to 2)");
        }

        if ((int)chunk.Codec is < 0 or > Lz4Raw)
            throw new InvalidDataException($"the column chunk declares codec {(int)chunk.Codec}, which Parquet does not define (0 to {Lz4Raw})");
        if (type != expected || (int)chunk.Codec is not (Uncompressed or Snappy or Gzip or Brotli or Zstd or Lz4 or Lz4Raw))
            return PageDecoder.ParquetSharp; // e.g. text in FIXED_LEN_BYTE_ARRAY, LZO
        if (chunk.NumValues > int.MaxValue)
            throw new InvalidDataException($"the column chunk declares {N(chunk.NumValues)} values, more than a chunk can hold");
        int maxRep = field.MaxRepetitionLevel, maxDef = field.MaxDefinitionLevel;
        if (maxRep == 0 && chunk.NumValues != group.NumRows)
            throw new InvalidDataException($"the column chunk declares {N(chunk.NumValues)} values but the row group {N(group.NumRows)} rows");
        if (maxRep > 0 && chunk.NumValues < group.NumRows)
            throw new InvalidDataException($"the column chunk declares {N(chunk.NumValues)} values, fewer than the row group's {N(group.NumRows)} rows");

        Span<byte> tail = stackalloc byte[8];
        stream.Seek(-8, SeekOrigin.End);
        stream.ReadExactly(tail);
        long dataEnd = stream.Length - 8 - BinaryPrimitives.ReadUInt32LittleEndian(tail); // where the footer starts
        var walk = new Walk(stream, dataEnd, (int)chunk.Codec, text, type == Int64Type ? 8 : 4, maxRep, maxDef);
        long position = new[] { chunk.DictionaryPageOffset ?? 0, chunk.DataPageOffset, chunk.IndexPageOffset ?? 0 }.Where(o => o != 0).DefaultIfEmpty(0).Min();
        if (position < 4 || position >= dataEnd)
            throw new InvalidDataException($"the column chunk starts at byte {N(position)}, outside the file's data (bytes 4 to {N(dataEnd)})");
        long total = chunk.NumValues, seen = 0;
        for (int page = 0; seen < total; page++)
        {
            if (position >= dataEnd)
                throw new InvalidDataException($"the pages end at byte {N(position)} after {N(seen)} of the chunk's {N(total)} values");
            PageDecoder verdict;
            int values;
            try
            {
                verdict = walk.Page(page, ref position, total - seen, out values);
            }
            catch (HadoopLz4Exception)
            {
                return PageDecoder.ParquetSharp; // valid LZ4 that Parquet.Net would decode wrongly
            }

            if (verdict == PageDecoder.ParquetSharp)
                return verdict;
            seen += values;
        }

        return PageDecoder.ParquetNet;
    }

    /// <summary>A page of the LZ4 codec in Hadoop framing: valid Parquet (Arrow writes it) that Parquet.Net decodes as
    /// a raw block, wrongly; the chunk goes to ParquetSharp, which reads both framings.</summary>
    private sealed class HadoopLz4Exception : Exception;

    private static string N(long value) => value.ToString("N0", CultureInfo.InvariantCulture);

    /// <summary>The state of one chunk's walk: the open file, the dictionary's size once read.</summary>
    private sealed class Walk(Stream stream, long dataEnd, int codec, bool text, int width, int maxRep, int maxDef)
    {
        private int _dictionary = -1; // values in the dictionary page; -1: none yet

        /// <summary>Checks the page at <paramref name="position"/> and moves past it; <paramref name="values"/> are its
        /// level (or value) count as Parquet.Net counts them towards the chunk.</summary>
        public PageDecoder Page(int page, ref long position, long left, out int values)
        {
            values = 0;
            var header = ReadHeader(page, position, out int headerBytes);
            string where = $"page {page} (at byte {N(position)})";
            if (header.Type is not (DataPage or DictionaryPage or DataPageV2))
                throw new InvalidDataException($"{where} has page type {header.Type}{(header.Type == IndexPage ? " (an index page)" : "")}, which is not a data or dictionary page");
            if (header.Compressed < 0 || header.Uncompressed < 0)
                throw new InvalidDataException($"{where} declares a negative size ({N(header.Compressed)} stored, {N(header.Uncompressed)} uncompressed bytes)");
            long start = position + headerBytes;
            if (header.Compressed > dataEnd - start)
                throw new InvalidDataException($"{where} declares {N(header.Compressed)} bytes, past the end of the file's data at byte {N(dataEnd)}");
            if (header.Compressed > MaxStoredPageBytes)
                throw new InvalidDataException($"{where} declares {N(header.Compressed)} stored bytes, more than the {N(MaxStoredPageBytes)} read per page; write the file with smaller pages");
            if (header.Uncompressed > MaxPageBytes)
                throw new InvalidDataException($"{where} declares {N(header.Uncompressed)} uncompressed bytes, more than the {N(MaxPageBytes)} read per page; write the file with smaller pages");
            position = start + header.Compressed;
            if (header.Type == DictionaryPage)
            {
                DictionaryPageBody(where, page, header, start);
                return PageDecoder.ParquetNet;
            }

            int count = header.Type == DataPage ? header.Data!.NumValues : header.V2!.NumValues;
            if (count < 0 || count > left)
                throw new InvalidDataException($"{where} declares {N(count)} values, but {N(left)} of the chunk's values are left");
            values = count;
            if (header.Type == DataPageV2)
                return DataPageV2Body(where, header, start);
            if (header.Data!.Encoding is not (Plain or PlainDictionary or RleDictionary) || (maxRep > 0 && header.Data.RepetitionEncoding != Rle)
                || (maxDef > 0 && header.Data.DefinitionEncoding != Rle))
                return PageDecoder.ParquetSharp;
            byte[] page1 = Decompress(where, Stored(start, header.Compressed), header.Uncompressed);
            int used = 0, nulls = 0;
            if (maxRep > 0)
                used += PrefixedLevels(where, "repetition", page1, used, maxRep, count, out _);
            if (maxDef > 0)
                used += PrefixedLevels(where, "definition", page1, used, maxDef, count, out nulls);
            Values(where, header.Data.Encoding, page1.AsSpan(used), count - nulls);
            return PageDecoder.ParquetNet;
        }

        private void DictionaryPageBody(string where, int page, PageHeader header, long start)
        {
            if (page != 0 || _dictionary >= 0)
                throw new InvalidDataException($"{where} is a dictionary page, but only the first page of a chunk may be one");
            var dictionary = header.Dictionary!;
            if (dictionary.NumValues < 0)
                throw new InvalidDataException($"{where} declares a dictionary of {N(dictionary.NumValues)} values");
            if (dictionary.Encoding is not (Plain or PlainDictionary))
                throw new InvalidDataException($"{where} has dictionary encoding {dictionary.Encoding}; dictionaries are PLAIN-encoded");
            byte[] bytes = Decompress(where, Stored(start, header.Compressed), header.Uncompressed);
            int found = PlainValues(bytes, dictionary.NumValues);
            if (found < dictionary.NumValues)
                throw new InvalidDataException($"{where} declares {N(dictionary.NumValues)} dictionary values but holds {N(found)} whole ones");
            _dictionary = dictionary.NumValues;
        }

        /// <summary>Flat v2 pages (levels stored uncompressed before the values); repeated ones Parquet.Net cannot read.</summary>
        private PageDecoder DataPageV2Body(string where, PageHeader header, long start)
        {
            var v2 = header.V2!;
            if (maxRep > 0 || v2.Encoding is not (Plain or PlainDictionary or RleDictionary))
                return PageDecoder.ParquetSharp;
            if (v2.RepetitionBytes != 0 || (maxDef == 0 && v2.DefinitionBytes != 0))
                throw new InvalidDataException($"{where} declares levels ({N(v2.RepetitionBytes)} repetition, {N(v2.DefinitionBytes)} definition bytes) that its column does not have");
            if (v2.DefinitionBytes < 0 || v2.DefinitionBytes > header.Compressed)
                throw new InvalidDataException($"{where} declares {N(v2.DefinitionBytes)} bytes of definition levels in a page of {N(header.Compressed)} bytes");
            byte[] stored = Stored(start, header.Compressed);
            int nulls = 0;
            if (maxDef > 0)
                Levels(where, "definition", stored.AsSpan(0, v2.DefinitionBytes), maxDef, v2.NumValues, out nulls);
            if (v2.NumNulls != nulls)
                throw new InvalidDataException($"{where} declares {N(v2.NumNulls)} nulls but its definition levels hold {N(nulls)}");
            var data = stored.AsSpan(v2.DefinitionBytes);
            byte[]? values = null;
            if (v2.IsCompressed && codec != Uncompressed)
            {
                long expected = (long)header.Uncompressed - v2.DefinitionBytes;
                if (expected < 0)
                    throw new InvalidDataException($"{where} declares {N(header.Uncompressed)} uncompressed bytes, fewer than its {N(v2.DefinitionBytes)} bytes of levels");
                values = Decompress(where, data.ToArray(), (int)expected);
            }
            else if (header.Uncompressed != header.Compressed)
            {
                throw new InvalidDataException($"{where} is stored uncompressed but declares {N(header.Uncompressed)} bytes for its {N(header.Compressed)}");
            }

            Values(where, v2.Encoding, values is null ? data : values, v2.NumValues - nulls);
            return PageDecoder.ParquetNet;
        }

        /// <summary>v1 levels: a 4-byte length, then the RLE/bit-packed runs. Returns the bytes used.</summary>
        private static int PrefixedLevels(string where, string kind, byte[] page, int offset, int maxLevel, int count, out int nulls)
        {
            if (page.Length - offset < 4)
                throw new InvalidDataException($"{where} ends before its {kind} levels' length");
            int length = BinaryPrimitives.ReadInt32LittleEndian(page.AsSpan(offset));
            if (length < 0 || length > page.Length - offset - 4)
                throw new InvalidDataException($"{where} declares {N(length)} bytes of {kind} levels, but {N(page.Length - offset - 4)} are left in the page");
            Levels(where, kind, page.AsSpan(offset + 4, length), maxLevel, count, out nulls);
            return 4 + length;
        }

        /// <summary>Exactly <paramref name="count"/> levels, each at most <paramref name="maxLevel"/>; nulls: those below it.</summary>
        private static void Levels(string where, string kind, ReadOnlySpan<byte> runs, int maxLevel, int count, out int nulls)
        {
            int decoded = Runs(where, $"{kind} levels", runs, BitWidth(maxLevel), count, maxLevel, out long max, out nulls);
            if (max > maxLevel)
                throw new InvalidDataException($"{where} holds {kind} level {max}, above the column's maximum {maxLevel}");
            if (decoded != count)
                throw new InvalidDataException($"{where} holds {N(decoded)} {kind} levels for its {N(count)} values");
        }

        private void Values(string where, int encoding, ReadOnlySpan<byte> data, int defined)
        {
            if (encoding == Plain)
            {
                int found = PlainValues(data, defined);
                if (found < defined)
                    throw new InvalidDataException($"{where} holds {N(found)} whole PLAIN values where its levels say {N(defined)}");
                return;
            }

            // PLAIN_DICTIONARY / RLE_DICTIONARY: one byte of bit width, then runs of indexes into the dictionary.
            if (_dictionary < 0)
                throw new InvalidDataException($"{where} is dictionary-encoded, but the chunk has no dictionary page before it");
            if (data.Length == 0)
                throw new InvalidDataException($"{where} is dictionary-encoded but empty (no bit width)");
            int bitWidth = data[0];
            if (bitWidth > 32)
                throw new InvalidDataException($"{where} declares dictionary indexes of {bitWidth} bits (at most 32)");
            int dictionary = _dictionary;
            if (bitWidth == 0 || data.Length == 1)
            {
                if (defined > 0 && dictionary == 0)
                    throw new InvalidDataException($"{where} refers to an empty dictionary");
                return;
            }

            int decoded = Runs(where, "dictionary indexes", data[1..], bitWidth, defined, 0, out long max, out _);
            if (decoded > 0 && max >= dictionary)
                throw new InvalidDataException($"{where} holds dictionary index {N(max)}, but the dictionary has {N(dictionary)} values");
            if (decoded != defined)
                throw new InvalidDataException($"{where} holds {N(decoded)} dictionary indexes where its levels say {N(defined)} values");
        }

        /// <summary>How many of the first <paramref name="wanted"/> PLAIN values lie whole in <paramref name="data"/>.</summary>
        private int PlainValues(ReadOnlySpan<byte> data, int wanted)
        {
            if (!text)
                return (int)Math.Min(wanted, data.Length / width);
            int position = 0, found = 0;
            while (found < wanted && data.Length - position >= 4)
            {
                int length = BinaryPrimitives.ReadInt32LittleEndian(data[position..]);
                if (length < 0 || length > data.Length - position - 4)
                    break;
                position += 4 + length;
                found++;
            }

            return found;
        }

        /// <summary>
        /// RLE/bit-packed hybrid runs as Parquet.Net decodes them (up to <paramref name="wanted"/> values); every run
        /// header must fit an int and every run must lie whole in <paramref name="runs"/>. Returns the values decoded,
        /// the largest of them and how many are below <paramref name="threshold"/>.
        /// </summary>
        private static int Runs(string where, string what, ReadOnlySpan<byte> runs, int bitWidth, int wanted, int threshold, out long max, out int below)
        {
            int position = 0, decoded = 0, byteWidth = (bitWidth + 7) / 8;
            max = 0;
            below = 0;
            if (bitWidth > 32)
                throw new InvalidDataException($"{where}: {what} of {bitWidth} bits");
            while (position < runs.Length && decoded < wanted)
            {
                ulong header = 0;
                int shift = 0;
                while (true)
                {
                    if (position >= runs.Length || shift > 28)
                        throw new InvalidDataException($"{where}: a run header of its {what} is cut off or too large");
                    byte b = runs[position++];
                    header |= (ulong)(b & 0x7F) << shift;
                    shift += 7;
                    if (b < 0x80)
                        break;
                }

                if (header > int.MaxValue)
                    throw new InvalidDataException($"{where}: a run header of its {what} is too large");
                int n = (int)(header >> 1);
                if ((header & 1) == 0)
                {
                    if (n == 0)
                        continue;
                    if (runs.Length - position < byteWidth)
                        throw new InvalidDataException($"{where}: a repeated run of its {what} is cut off");
                    long value = 0;
                    for (int i = 0; i < byteWidth; i++)
                        value |= (long)runs[position + i] << (8 * i);
                    position += byteWidth;
                    int take = Math.Min(n, wanted - decoded);
                    if (take > 0)
                    {
                        max = Math.Max(max, value);
                        if (value < threshold)
                            below += take;
                    }

                    decoded += take;
                }
                else
                {
                    if (n == 0)
                        continue;
                    long bytes = (long)n * bitWidth;
                    if (n > int.MaxValue / 8 || bytes > runs.Length - position)
                        throw new InvalidDataException($"{where}: a bit-packed run of {N(8L * n)} {what} is cut off");
                    var packed = runs.Slice(position, (int)bytes);
                    position += (int)bytes;
                    int take = (int)Math.Min(8L * n, wanted - decoded);
                    ulong mask = bitWidth == 64 ? ulong.MaxValue : (1UL << bitWidth) - 1;
                    for (int i = 0; i < take; i++)
                    {
                        long value = (long)(Unpack(packed, (long)i * bitWidth) & mask);
                        max = Math.Max(max, value);
                        if (value < threshold)
                            below++;
                    }

                    decoded += take;
                }
            }

            return decoded;
        }

        /// <summary>The (up to 57 meaningful) bits from bit <paramref name="bit"/> of a little-endian bit-packed run.</summary>
        private static ulong Unpack(ReadOnlySpan<byte> packed, long bit)
        {
            int first = (int)(bit >> 3);
            ulong word = 0;
            int have = Math.Min(8, packed.Length - first);
            for (int i = 0; i < have; i++)
                word |= (ulong)packed[first + i] << (8 * i);
            return word >> (int)(bit & 7);
        }

        private static int BitWidth(int maxLevel) => maxLevel == 0 ? 0 : 32 - int.LeadingZeroCount(maxLevel);

        private byte[] Stored(long start, int length)
        {
            var bytes = new byte[length];
            stream.Seek(start, SeekOrigin.Begin);
            stream.ReadExactly(bytes);
            return bytes;
        }

        /// <summary>The page's bytes decompressed: exactly <paramref name="expected"/> of them, never more allocated than
        /// the codec can expand the stored bytes to.</summary>
        private byte[] Decompress(string where, byte[] stored, int expected)
        {
            string mismatch = $"{where} declares {N(expected)} uncompressed bytes";
            switch (codec)
            {
                case Uncompressed:
                    if (stored.Length != expected)
                        throw new InvalidDataException($"{mismatch} but stores {N(stored.Length)} uncompressed");
                    return stored;
                case Snappy:
                {
                    // Parquet.Net allocates what the Snappy stream declares; Snappy expands 3 stored bytes to at most 64.
                    int declared;
                    try
                    {
                        declared = Snappier.Snappy.GetUncompressedLength(stored);
                    }
                    catch (Exception e) when (e is InvalidDataException or ArgumentException)
                    {
                        throw new InvalidDataException($"{where}: its Snappy data is damaged ({e.Message})");
                    }

                    if (declared != expected)
                        throw new InvalidDataException($"{mismatch} but its Snappy data declares {N(declared)}");
                    if (expected > 22L * stored.Length + 16)
                        throw new InvalidDataException($"{mismatch} from {N(stored.Length)} Snappy bytes, more than Snappy can expand to");
                    var output = new byte[expected];
                    try
                    {
                        if (Snappier.Snappy.Decompress(stored, output) != expected)
                            throw new InvalidDataException($"{mismatch} but its Snappy data holds fewer");
                    }
                    catch (Exception e) when (e is InvalidDataException or ArgumentException)
                    {
                        throw new InvalidDataException($"{where}: its Snappy data is damaged ({e.Message})");
                    }

                    return output;
                }

                case Gzip:
                {
                    // Deflate expands at most ~1032:1; Parquet.Net allocates the declared size before inflating.
                    if (expected > 1040L * stored.Length + 64)
                        throw new InvalidDataException($"{mismatch} from {N(stored.Length)} gzip bytes, more than gzip can expand to");
                    var output = new byte[expected];
                    try
                    {
                        using var gzip = new GZipStream(new MemoryStream(stored), CompressionMode.Decompress);
                        int total = 0, read;
                        while (total < expected && (read = gzip.Read(output, total, expected - total)) > 0)
                            total += read;
                        Span<byte> more = stackalloc byte[1];
                        if (total != expected || gzip.Read(more) != 0)
                            throw new InvalidDataException($"{mismatch} but its gzip data holds {(total != expected ? N(total) : "more")}");
                    }
                    catch (InvalidDataException e) when (!e.Message.StartsWith(where, StringComparison.Ordinal))
                    {
                        throw new InvalidDataException($"{where}: its gzip data is damaged ({e.Message})");
                    }

                    return output;
                }

                case Brotli:
                {
                    // Parquet.Net reads at most the declared size from a BrotliStream into a buffer of that size (and
                    // ignores a short stream); the declared size is capped above, Brotli's own ratio is not a useful bound.
                    var output = new byte[expected];
                    try
                    {
                        using var brotli = new BrotliStream(new MemoryStream(stored), CompressionMode.Decompress);
                        int total = 0, read;
                        while (total < expected && (read = brotli.Read(output, total, expected - total)) > 0)
                            total += read;
                        Span<byte> more = stackalloc byte[1];
                        if (total != expected || brotli.Read(more) != 0)
                            throw new InvalidDataException($"{mismatch} but its Brotli data holds {(total != expected ? N(total) : "more")}");
                    }
                    catch (Exception e) when (e is InvalidDataException or InvalidOperationException && !e.Message.StartsWith(where, StringComparison.Ordinal))
                    {
                        throw new InvalidDataException($"{where}: its Brotli data is damaged ({e.Message})");
                    }

                    return output;
                }

                case Lz4:
                case Lz4Raw:
                {
                    // Parquet.Net 6.1 decodes LZ4 and LZ4_RAW alike: one raw block (K4os LZ4Codec.Decode) into a buffer of
                    // the declared size, ignoring the result, so a damaged block leaves bytes it never wrote. A raw block
                    // expands at most ~255:1 (each extra length byte adds 255 output bytes).
                    string name = codec == Lz4 ? "LZ4" : "LZ4_RAW";
                    if (expected > 255L * stored.Length + 64)
                        throw new InvalidDataException($"{mismatch} from {N(stored.Length)} {name} bytes, more than LZ4 can expand to");
                    var output = new byte[expected];
                    int decoded = K4os.Compression.LZ4.LZ4Codec.Decode(stored, output);
                    if (decoded == expected)
                        return output;
                    if (codec == Lz4 && IsHadoopLz4(stored, output))
                        throw new HadoopLz4Exception();
                    throw new InvalidDataException(decoded < 0
                        ? $"{where}: its {name} data is damaged (not an LZ4 block of at most {N(expected)} bytes)"
                        : $"{mismatch} but its {name} data holds {N(decoded)}");
                }

                default: // Zstd
                {
                    // Parquet.Net allocates what the zstd frame declares; a zstd block expands at most 128 KiB from 4 bytes.
                    if (expected > 32768L * stored.Length + 64)
                        throw new InvalidDataException($"{mismatch} from {N(stored.Length)} zstd bytes, more than zstd can expand to");
                    ulong declared;
                    try
                    {
                        declared = ZstdSharp.Decompressor.GetDecompressedSize(stored);
                    }
                    catch (ZstdSharp.ZstdException e)
                    {
                        throw new InvalidDataException($"{where}: its zstd data is damaged ({e.Message})");
                    }

                    if (declared != (ulong)expected)
                        throw new InvalidDataException($"{mismatch} but its zstd frame declares {N((long)Math.Min(declared, long.MaxValue))}");
                    var output = new byte[expected];
                    try
                    {
                        using var zstd = new ZstdSharp.Decompressor();
                        if (zstd.Unwrap(stored, output) != expected)
                            throw new InvalidDataException($"{mismatch} but its zstd data holds fewer");
                    }
                    catch (ZstdSharp.ZstdException e)
                    {
                        throw new InvalidDataException($"{where}: its zstd data is damaged ({e.Message})");
                    }

                    return output;
                }
            }
        }

        /// <summary>Whether <paramref name="stored"/> is LZ4 in Hadoop framing (what Arrow writes for the LZ4 codec): frames
        /// of a 4-byte big-endian uncompressed size, a 4-byte big-endian stored size and a raw block of exactly that many
        /// bytes, filling the page and adding up to the length of <paramref name="output"/> (decoded into it).</summary>
        private static bool IsHadoopLz4(byte[] stored, byte[] output)
        {
            int expected = output.Length;
            int read = 0, written = 0;
            while (read < stored.Length)
            {
                if (stored.Length - read < 8)
                    return false;
                uint size = BinaryPrimitives.ReadUInt32BigEndian(stored.AsSpan(read));
                uint length = BinaryPrimitives.ReadUInt32BigEndian(stored.AsSpan(read + 4));
                read += 8;
                if (size > (uint)(expected - written) || length > (uint)(stored.Length - read))
                    return false;
                if (K4os.Compression.LZ4.LZ4Codec.Decode(stored.AsSpan(read, (int)length), output.AsSpan(written, (int)size)) != size)
                    return false;
                read += (int)length;
                written += (int)size;
            }

            return written == expected && stored.Length > 0;
        }

        /// <summary>Reads the Thrift PageHeader at <paramref name="position"/>, growing the read until it is whole.</summary>
        private PageHeader ReadHeader(int page, long position, out int length)
        {
            int size = 256;
            while (true)
            {
                int take = (int)Math.Min(size, dataEnd - position);
                var bytes = new byte[take];
                stream.Seek(position, SeekOrigin.Begin);
                stream.ReadExactly(bytes);
                try
                {
                    var reader = new ThriftReader(bytes);
                    var header = PageHeader.Read(ref reader, page, position);
                    length = reader.Position;
                    return header;
                }
                catch (EndOfHeaderException) when (take < dataEnd - position && size < (16 << 20))
                {
                    size *= 16;
                }
                catch (EndOfHeaderException)
                {
                    throw new InvalidDataException($"page {page} (at byte {N(position)}): its header runs past the file's data or over 16 MiB");
                }
            }
        }
    }

    private sealed class EndOfHeaderException : Exception;

    private sealed record DataHeader(int NumValues, int Encoding, int DefinitionEncoding, int RepetitionEncoding);

    private sealed record DictionaryHeader(int NumValues, int Encoding);

    private sealed record DataHeaderV2(int NumValues, int NumNulls, int Encoding, int DefinitionBytes, int RepetitionBytes, bool IsCompressed);

    /// <summary>The fields of parquet.thrift's PageHeader that Parquet.Net uses.</summary>
    private sealed record PageHeader(int Type, int Uncompressed, int Compressed, DataHeader? Data, DictionaryHeader? Dictionary, DataHeaderV2? V2)
    {
        public static PageHeader Read(ref ThriftReader r, int page, long at)
        {
            string where = $"page {page} (at byte {N(at)})";
            int? type = null, uncompressed = null, compressed = null;
            DataHeader? data = null;
            DictionaryHeader? dictionary = null;
            DataHeaderV2? v2 = null;
            short id = 0;
            while (r.Field(ref id, out int wire))
            {
                // Parquet.Net reads a known field by its id whatever its wire type says: the type must be the expected one.
                ThriftReader.Expect(id, wire, id switch { 1 or 2 or 3 or 4 => ThriftReader.I32, 5 or 6 or 7 or 8 => ThriftReader.Struct, _ => wire }, where, "page header");
                switch (id)
                {
                    case 1: type = r.I32Value(where); break;
                    case 2: uncompressed = r.I32Value(where); break;
                    case 3: compressed = r.I32Value(where); break;
                    case 5: data = ReadData(ref r, where); break;
                    case 6: r.KnownStruct(where); break; // IndexPageHeader: no fields, each one skipped
                    case 7: dictionary = ReadDictionary(ref r, where); break;
                    case 8: v2 = ReadV2(ref r, where); break;
                    default: r.Skip(wire, 0, where); break;
                }
            }

            if (type is null || uncompressed is null || compressed is null)
                throw new InvalidDataException($"{where}: its header lacks the page type or sizes");
            string? missing = type switch
            {
                DataPage when data is null => "data page header",
                DictionaryPage when dictionary is null => "dictionary page header",
                DataPageV2 when v2 is null => "data page v2 header",
                _ => null,
            };
            if (missing is not null)
                throw new InvalidDataException($"{where}: its header lacks the {missing}");
            return new PageHeader(type.Value, uncompressed.Value, compressed.Value, data, dictionary, v2);
        }

        private static DataHeader ReadData(ref ThriftReader r, string where)
        {
            int? count = null, encoding = null, definition = null, repetition = null;
            short id = 0;
            while (r.Field(ref id, out int wire))
            {
                ThriftReader.Expect(id, wire, id switch { 1 or 2 or 3 or 4 => ThriftReader.I32, 5 => ThriftReader.Struct, _ => wire }, where, "data page header");
                switch (id)
                {
                    case 1: count = r.I32Value(where); break;
                    case 2: encoding = r.I32Value(where); break;
                    case 3: definition = r.I32Value(where); break;
                    case 4: repetition = r.I32Value(where); break;
                    case 5: r.Statistics(where); break;
                    default: r.Skip(wire, 1, where); break;
                }
            }

            if (count is null || encoding is null || definition is null || repetition is null)
                throw new InvalidDataException($"{where}: its data page header lacks a required field");
            return new DataHeader(count.Value, encoding.Value, definition.Value, repetition.Value);
        }

        private static DictionaryHeader ReadDictionary(ref ThriftReader r, string where)
        {
            int? count = null, encoding = null;
            short id = 0;
            while (r.Field(ref id, out int wire))
            {
                ThriftReader.Expect(id, wire, id switch { 1 or 2 => ThriftReader.I32, 3 => ThriftReader.Bool, _ => wire }, where, "dictionary page header");
                switch (id)
                {
                    case 1: count = r.I32Value(where); break;
                    case 2: encoding = r.I32Value(where); break;
                    default: r.Skip(wire, 1, where); break;
                }
            }

            if (count is null || encoding is null)
                throw new InvalidDataException($"{where}: its dictionary page header lacks a required field");
            return new DictionaryHeader(count.Value, encoding.Value);
        }

        private static DataHeaderV2 ReadV2(ref ThriftReader r, string where)
        {
            int? count = null, nulls = null, rows = null, encoding = null, definition = null, repetition = null;
            bool compressed = true;
            short id = 0;
            while (r.Field(ref id, out int wire))
            {
                ThriftReader.Expect(id, wire, id switch { >= 1 and <= 6 => ThriftReader.I32, 7 => ThriftReader.Bool, 8 => ThriftReader.Struct, _ => wire }, where, "data page v2 header");
                switch (id)
                {
                    case 1: count = r.I32Value(where); break;
                    case 2: nulls = r.I32Value(where); break;
                    case 3: rows = r.I32Value(where); break;
                    case 4: encoding = r.I32Value(where); break;
                    case 5: definition = r.I32Value(where); break;
                    case 6: repetition = r.I32Value(where); break;
                    case 7: compressed = wire == ThriftReader.True; break;
                    case 8: r.Statistics(where); break;
                    default: r.Skip(wire, 1, where); break;
                }
            }

            if (count is null || nulls is null || rows is null || encoding is null || definition is null || repetition is null)
                throw new InvalidDataException($"{where}: its data page v2 header lacks a required field");
            if (nulls < 0 || nulls > count || rows < 0)
                throw new InvalidDataException($"{where}: its data page v2 header declares {N(nulls.Value)} nulls and {N(rows.Value)} rows for {N(count.Value)} values");
            return new DataHeaderV2(count.Value, nulls.Value, encoding.Value, definition.Value, repetition.Value, compressed);
        }
    }

    /// <summary>Thrift compact protocol over one buffer; running out of bytes throws <see cref="EndOfHeaderException"/>.</summary>
    private ref struct ThriftReader(byte[] bytes)
    {
        public const int True = 1, False = 2, I32 = 5, I64 = 6, Binary = 8, Struct = 12;
        public const int Bool = -1; // True or False: a bool field's value is its wire type
        private const int MaxDepth = 16;

        public static void Expect(short id, int wire, int expected, string where, string what)
        {
            if (wire == expected || (expected == Bool && wire is True or False))
                return;
            throw new InvalidDataException($"{where}: field {id} of its {what} has Thrift type {wire}, not {(expected == Bool ? "bool" : expected.ToString(CultureInfo.InvariantCulture))}");
        }

        /// <summary>parquet.thrift's Statistics, typed as Parquet.Net reads it.</summary>
        public void Statistics(string where)
        {
            short id = 0;
            while (Field(ref id, out int wire))
            {
                Expect(id, wire, id switch { 1 or 2 or 5 or 6 => Binary, 3 or 4 => I64, 7 or 8 => Bool, _ => wire }, where, "statistics");
                Skip(wire, 2, where);
            }
        }

        /// <summary>A struct Parquet.Net reads with its own reader but whose fields it does not know (IndexPageHeader).</summary>
        public void KnownStruct(string where)
        {
            short id = 0;
            while (Field(ref id, out int wire))
                Skip(wire, 2, where);
        }

        public int Position { get; private set; }

        /// <summary>The next field of the current struct: false at its stop byte.</summary>
        public bool Field(ref short id, out int wire)
        {
            byte header = Byte();
            wire = header & 0x0F;
            if (header == 0)
                return false;
            int delta = header >> 4;
            long full = delta == 0 ? Unzig(Varint()) : id + delta;
            if (full is < short.MinValue or > short.MaxValue)
                throw new InvalidDataException($"a page header holds field id {full}, outside the 16-bit range");
            id = (short)full;
            return true;
        }

        public int I32Value(string where)
        {
            long value = Unzig(Varint());
            if (value is < int.MinValue or > int.MaxValue)
                throw new InvalidDataException($"{where}: its header holds an i32 outside the 32-bit range");
            return (int)value;
        }

        public void Skip(int wire, int depth, string where)
        {
            if (depth > MaxDepth)
                throw new InvalidDataException($"{where}: its header is nested more than {MaxDepth} levels");
            switch (wire)
            {
                case 1 or 2:
                    break;
                case 3:
                    Byte();
                    break;
                case 4 or 5 or 6:
                    Varint();
                    break;
                case 7:
                    Bytes(8);
                    break;
                case 8:
                    Bytes(Varint());
                    break;
                case 9:
                {
                    // Parquet.Net skips a list of bools without reading their bytes, and cannot skip sets and maps:
                    // neither appears in a page header, so both are refused rather than read two ways.
                    byte list = Byte();
                    long count = list >> 4 == 15 ? Varint() : list >> 4;
                    if ((list & 0x0F) is 1 or 2)
                        throw new InvalidDataException($"{where}: its header holds a list of bools");
                    Need(count);
                    for (long i = 0; i < count; i++)
                        Skip(list & 0x0F, depth + 1, where);
                    break;
                }

                case 12:
                {
                    // Parquet.Net 6.1's SkipField reads an unknown struct's field headers up to the stop byte but not
                    // their values (the values' bytes are read as headers); walking it properly made this check and
                    // Parquet.Net disagree on where the page header ends, and so on every byte of the page after it.
                    short id = 0;
                    while (Field(ref id, out _))
                    {
                    }

                    break;
                }

                default:
                    throw new InvalidDataException($"{where}: its header holds unknown Thrift type {wire}");
            }
        }

        private static long Unzig(long raw) => (long)((ulong)raw >> 1) ^ -(raw & 1);

        private void Need(long count)
        {
            if (count < 0 || count > bytes.Length - Position)
                throw new EndOfHeaderException();
        }

        private void Bytes(long count)
        {
            Need(count);
            Position += (int)count;
        }

        private byte Byte()
        {
            if (Position >= bytes.Length)
                throw new EndOfHeaderException();
            return bytes[Position++];
        }

        private long Varint()
        {
            ulong value = 0;
            for (int shift = 0; shift < 64; shift += 7)
            {
                byte b = Byte();
                value |= (ulong)(b & 0x7F) << shift;
                if (b < 0x80)
                    return (long)value;
            }

            throw new InvalidDataException("a varint in a page header is longer than 10 bytes");
        }
    }
}
