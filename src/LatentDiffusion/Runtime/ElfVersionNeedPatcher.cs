#nullable enable
// This one file serves twice: the library compiles it (LATENTDIFFUSION_LIBRARY defined) for the runtime fallback in
// TorchNativeLoader, and the NuGet package's build targets (buildTransitive/LatentDiffusion.targets) compile it with
// MSBuild's RoslynCodeTaskFactory, task class included, to patch the app's copy of libLibTorchSharp.so at build time.
// It sticks to what both compilers offer (no spans), so the algorithm exists once. Why the patch exists:
// TorchNativeLoader's remarks.
#if !LATENTDIFFUSION_LIBRARY
using Microsoft.Build.Framework;
using Microsoft.Build.Utilities;
#endif
using System;
using System.IO;
using System.Linq;
using System.Text;

#if !LATENTDIFFUSION_LIBRARY
/// <summary>
/// MSBuild task: where the build machine's libstdc++ lacks GLIBCXX_3.4.32, marks that version need of each
/// libLibTorchSharp.so found under the given folders weak, so that TorchSharp loads from the app's first line.
/// </summary>
public sealed class PatchLibTorchSharpForOldLibstdcxx : Task
{
    [Required]
    public string[] Folders { get; set; } = new string[0];

    public override bool Execute()
    {
        if (LatentDiffusion.Runtime.ElfVersionNeedPatcher.SystemHas(LatentDiffusion.Runtime.ElfVersionNeedPatcher.MissingVersion))
            return true;
        foreach (string folder in Folders.Where(f => !string.IsNullOrWhiteSpace(f)).Distinct())
            foreach (string candidate in new[] { Path.Combine(folder, LatentDiffusion.Runtime.ElfVersionNeedPatcher.FileName),
                Path.Combine(folder, "runtimes", "linux-x64", "native", LatentDiffusion.Runtime.ElfVersionNeedPatcher.FileName) })
            {
                if (!File.Exists(candidate)) continue;
                byte[] bytes = File.ReadAllBytes(candidate);
                if (LatentDiffusion.Runtime.ElfVersionNeedPatcher.MarkWeak(bytes, LatentDiffusion.Runtime.ElfVersionNeedPatcher.MissingVersion) == 0) continue;
                string temp = candidate + ".patching";
                File.WriteAllBytes(temp, bytes);
                File.Copy(temp, candidate, true);
                File.Delete(temp);
                Log.LogMessage(MessageImportance.Normal, "LatentDiffusion: marked " + LatentDiffusion.Runtime.ElfVersionNeedPatcher.MissingVersion
                    + " weak in " + candidate + " (this system's libstdc++ lacks it; see TorchNativeLoader)");
            }
        return true;
    }
}
#endif

namespace LatentDiffusion.Runtime
{
    /// <summary>
    /// Marks named symbol-version needs of a 64-bit little-endian ELF shared object as weak
    /// (<c>VER_FLG_WEAK</c> in the <c>Elf64_Vernaux</c> entries of <c>.gnu.version_r</c>).
    /// A weak version need no longer stops the dynamic loader when the providing library lacks that version;
    /// symbols bound to it still resolve by name.
    /// </summary>
    internal static class ElfVersionNeedPatcher
    {
        public const string FileName = "libLibTorchSharp.so";
        public const string MissingVersion = "GLIBCXX_3.4.32";
        private const uint ShtGnuVerneed = 0x6ffffffe;
        private const ushort VerFlgWeak = 0x2;

        private static readonly string[] LibstdcxxPaths =
        {
            "/usr/lib/x86_64-linux-gnu/libstdc++.so.6", "/lib/x86_64-linux-gnu/libstdc++.so.6", "/usr/lib64/libstdc++.so.6", "/lib64/libstdc++.so.6",
                "/usr/lib/libstdc++.so.6",
        };

        /// <summary>
        /// Whether the system's libstdc++ (the first found in the usual folders) defines <paramref name="version"/>;
        /// true when none is found, so nothing is patched.
        /// </summary>
        public static bool SystemHas(string version)
        {
            string? path = LibstdcxxPaths.FirstOrDefault(File.Exists);
            if (path is null) return true;
            byte[] library = File.ReadAllBytes(path), needle = Encoding.ASCII.GetBytes(version + "\0");
            for (int i = 0; i + needle.Length <= library.Length; i++)
            {
                int j = 0;
                while (j < needle.Length && library[i + j] == needle[j]) j++;
                if (j == needle.Length) return true;
            }
            return false;
        }

        /// <summary>Returns how many matching version needs were found not yet weak, and sets their weak flag in <paramref name="elf"/>.</summary>
        public static int MarkWeak(byte[] elf, string versionName)
        {
            if (elf.Length < 64 || elf[0] != 0x7f || elf[1] != (byte)'E' || elf[2] != (byte)'L' || elf[3] != (byte)'F')
                throw new InvalidDataException("Not an ELF file.");
            if (elf[4] != 2 || elf[5] != 1)
                throw new InvalidDataException("Only 64-bit little-endian ELF files are supported.");

            long shoff = (long)U64(elf, 0x28);
            int shentsize = U16(elf, 0x3A), shnum = U16(elf, 0x3C);
            int patched = 0;
            for (int i = 0; i < shnum; i++)
            {
                int sh = checked((int)(shoff + (long)i * shentsize));
                if (U32(elf, sh + 4) != ShtGnuVerneed) continue;
                int offset = checked((int)U64(elf, sh + 0x18));
                int linkedStrtab = (int)U32(elf, sh + 0x28);
                int entries = (int)U32(elf, sh + 0x2C); // sh_info: number of Verneed entries
                int strSh = checked((int)(shoff + (long)linkedStrtab * shentsize));
                int strOffset = checked((int)U64(elf, strSh + 0x18));

                int need = offset;
                for (int n = 0; n < entries; n++)
                {
                    int auxCount = U16(elf, need + 2);
                    int aux = need + (int)U32(elf, need + 8);
                    for (int a = 0; a < auxCount; a++)
                    {
                        int nameOffset = strOffset + (int)U32(elf, aux + 8);
                        if (CString(elf, nameOffset) == versionName)
                        {
                            ushort flags = U16(elf, aux + 4);
                            if ((flags & VerFlgWeak) == 0)
                            {
                                flags |= VerFlgWeak;
                                elf[aux + 4] = (byte)flags;
                                elf[aux + 5] = (byte)(flags >> 8);
                                patched++;
                            }
                        }
                        aux += (int)U32(elf, aux + 12);
                    }
                    int next = (int)U32(elf, need + 12);
                    if (next == 0) break;
                    need += next;
                }
            }
            return patched;
        }

        private static ushort U16(byte[] b, int at) => (ushort)(b[at] | b[at + 1] << 8);
        private static uint U32(byte[] b, int at) => (uint)(b[at] | b[at + 1] << 8 | b[at + 2] << 16 | b[at + 3] << 24);
        private static ulong U64(byte[] b, int at) => U32(b, at) | (ulong)U32(b, at + 4) << 32;

        private static string CString(byte[] b, int offset)
        {
            int end = offset;
            while (b[end] != 0) end++;
            return Encoding.ASCII.GetString(b, offset, end - offset);
        }
    }
}
