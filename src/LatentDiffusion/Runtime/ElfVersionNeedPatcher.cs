using System.Buffers.Binary;
using System.Text;

namespace LatentDiffusion.Runtime;

/// <summary>
/// Marks named symbol-version needs of a 64-bit little-endian ELF shared object as weak
/// (<c>VER_FLG_WEAK</c> in the <c>Elf64_Vernaux</c> entries of <c>.gnu.version_r</c>).
/// A weak version need no longer stops the dynamic loader when the providing library lacks that version;
/// symbols bound to it still resolve by name.
/// </summary>
internal static class ElfVersionNeedPatcher
{
    private const uint ShtGnuVerneed = 0x6ffffffe;
    private const ushort VerFlgWeak = 0x2;

    /// <summary>Returns how many matching version needs were found, and sets their weak flag in <paramref name="elf"/>.</summary>
    public static int MarkWeak(byte[] elf, string versionName)
    {
        var span = elf.AsSpan();
        if (span.Length < 64 || span[0] != 0x7f || span[1] != (byte)'E' || span[2] != (byte)'L' || span[3] != (byte)'F')
            throw new InvalidDataException("Not an ELF file.");
        if (span[4] != 2 || span[5] != 1)
            throw new InvalidDataException("Only 64-bit little-endian ELF files are supported.");

        ulong shoff = BinaryPrimitives.ReadUInt64LittleEndian(span[0x28..]);
        int shentsize = BinaryPrimitives.ReadUInt16LittleEndian(span[0x3A..]);
        int shnum = BinaryPrimitives.ReadUInt16LittleEndian(span[0x3C..]);

        int patched = 0;
        for (int i = 0; i < shnum; i++)
        {
            var sh = span.Slice(checked((int)shoff + i * shentsize), shentsize);
            if (BinaryPrimitives.ReadUInt32LittleEndian(sh[4..]) != ShtGnuVerneed) continue;

            int offset = checked((int)BinaryPrimitives.ReadUInt64LittleEndian(sh[0x18..]));
            int linkedStrtab = (int)BinaryPrimitives.ReadUInt32LittleEndian(sh[0x28..]);
            int entries = (int)BinaryPrimitives.ReadUInt32LittleEndian(sh[0x2C..]); // sh_info: number of Verneed entries
            var strSh = span.Slice(checked((int)shoff + linkedStrtab * shentsize), shentsize);
            int strOffset = checked((int)BinaryPrimitives.ReadUInt64LittleEndian(strSh[0x18..]));

            int need = offset;
            for (int n = 0; n < entries; n++)
            {
                int auxCount = BinaryPrimitives.ReadUInt16LittleEndian(span[(need + 2)..]);
                int aux = need + (int)BinaryPrimitives.ReadUInt32LittleEndian(span[(need + 8)..]);
                for (int a = 0; a < auxCount; a++)
                {
                    int nameOffset = strOffset + (int)BinaryPrimitives.ReadUInt32LittleEndian(span[(aux + 8)..]);
                    if (ReadCString(span, nameOffset) == versionName)
                    {
                        ushort flags = BinaryPrimitives.ReadUInt16LittleEndian(span[(aux + 4)..]);
                        BinaryPrimitives.WriteUInt16LittleEndian(span[(aux + 4)..], (ushort)(flags | VerFlgWeak));
                        patched++;
                    }
                    aux += (int)BinaryPrimitives.ReadUInt32LittleEndian(span[(aux + 12)..]);
                }
                int next = (int)BinaryPrimitives.ReadUInt32LittleEndian(span[(need + 12)..]);
                if (next == 0) break;
                need += next;
            }
        }
        return patched;
    }

    private static string ReadCString(ReadOnlySpan<byte> span, int offset)
    {
        int end = span[offset..].IndexOf((byte)0);
        return Encoding.ASCII.GetString(span.Slice(offset, end));
    }
}
