using System.Reflection;
using System.Runtime.CompilerServices;
using Microsoft.ML;
using Microsoft.ML.Runtime;

namespace LatentDiffusion.MLNet;

using LatentDiffusion.MLNet.Persistence;

/// <summary>How one of our transformers appears in an ML.NET model zip.</summary>
/// <param name="LoaderSignature">The name ML.NET looks the loader up by (at most 24 characters: a fixed field of its header).</param>
/// <param name="ModelSignature">Exactly 8 ASCII characters identifying the component's entry.</param>
/// <param name="Version">Current format version; loading a newer one fails clearly.</param>
/// <param name="Loader">The transformer type with a static <c>Create(IHostEnvironment, object)</c>.</param>
/// <param name="OldestReadable">Oldest format version this library still reads (streams added since are optional on load).</param>
internal sealed record ComponentFormat(string LoaderSignature, string ModelSignature, uint Version, Type Loader, uint OldestReadable = 0)
{
    public uint OldestReadable { get; } = OldestReadable == 0 ? Version : OldestReadable;
}

/// <summary>
/// The single place that touches ML.NET internals: its model format, schema shapes and the context behind a catalog.
/// Why it exists: <see cref="ICanSaveModel"/> and
/// <see cref="ModelSaveContext"/> are public, but everything that writes through the save context, the load context,
/// <c>VersionInfo</c>, <c>LoadableClassAttribute</c> and the catalog's registration are internal to ML.NET. They are
/// reached here by reflection, against the exactly pinned Microsoft.ML version (Directory.Packages.props); if a
/// member is missing the error says so instead of failing somewhere deep. Loading reads only data (numbers, strings,
/// raw weights), never code or type names from the file.
/// </summary>
internal static class MLNetInternals
{
    private const BindingFlags Any = BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Instance | BindingFlags.Static;
    private static readonly Assembly Core = typeof(ModelSaveContext).Assembly;
    private static readonly ConditionalWeakTable<object, object> Registered = new();

    private static Type CoreType(string name) => Core.GetType(name)
        ?? throw Incompatible($"type {name}");

    private static InvalidOperationException Incompatible(string what) => new(
        $"The ML.NET model-format bridge could not find {what} in {Core.GetName()}. LatentDiffusion is built and tested " +
        "against Microsoft.ML 5.0.1 exactly; reference that version.");

    private static MethodInfo Method(Type type, string name, params Type[] parameters) =>
        type.GetMethod(name, Any, null, parameters, null) ?? throw Incompatible($"{type.Name}.{name}");

    private static object Field(object target, string name) =>
        (target.GetType().GetField(name, Any) ?? throw Incompatible($"{target.GetType().Name}.{name}")).GetValue(target)
        ?? throw new InvalidDataException($"ML.NET's {target.GetType().Name}.{name} is null.");

    private static object VersionInfo(ComponentFormat format)
    {
        var type = CoreType("Microsoft.ML.VersionInfo");
        var ctor = type.GetConstructor(Any, [typeof(string), typeof(uint), typeof(uint), typeof(uint), typeof(string), typeof(string), typeof(string)])
            ?? throw Incompatible("the VersionInfo constructor");
        return ctor.Invoke([format.ModelSignature, format.Version, format.Version, format.OldestReadable,
            typeof(MLNetInternals).Assembly.FullName, format.LoaderSignature, null]);
    }

    /// <summary>The shape of a schema (ML.NET's SchemaShape.Create, internal): how an estimator announces new columns.</summary>
    public static SchemaShape ShapeOf(DataViewSchema schema) =>
        (SchemaShape)(typeof(SchemaShape).GetMethod("Create", BindingFlags.NonPublic | BindingFlags.Public | BindingFlags.Static, null, [typeof(DataViewSchema)], null)
            ?? throw Incompatible("SchemaShape.Create")).Invoke(null, [schema])!;

    /// <summary>
    /// The MLContext a catalog belongs to (its internal Environment property); needed to log to
    /// <see cref="MLContext.Log"/> and to register our loaders with that context's component catalog.
    /// </summary>
    public static MLContext? ContextOf(object catalog)
    {
        for (var type = catalog.GetType(); type is not null; type = type.BaseType)
        {
            var property = type.GetProperty("Environment", Any);
            if (property?.GetValue(catalog) is MLContext context) return context;
        }
        return null;
    }

    /// <summary>Writes a component: ML.NET's version header, then each named binary stream.</summary>
    public static void Save(ModelSaveContext context, ComponentFormat format, IReadOnlyList<(string Name, Action<BinaryWriter> Write)> streams)
    {
        ArgumentNullException.ThrowIfNull(context);
        var type = typeof(ModelSaveContext);
        Method(type, "CheckAtModel").Invoke(context, null);
        Method(type, "SetVersionInfo", CoreType("Microsoft.ML.VersionInfo")).Invoke(context, [VersionInfo(format)]);
        var writer = (BinaryWriter)Field(context, "Writer");
        writer.Write(streams.Count);
        var save = Method(type, "SaveBinaryStream", typeof(string), typeof(Action<BinaryWriter>));
        foreach (var (name, write) in streams)
        {
            writer.Write(name);
            save.Invoke(context, [name, write]);
        }
    }

    /// <summary>
    /// Reads a component saved by <see cref="Save"/>: checks the version header, then reads each stream. Streams named in
    /// <paramref name="optional"/> were added by a later format version: files of an older version lack them and the
    /// reader keeps its defaults.
    /// </summary>
    public static void Load(object context, ComponentFormat format, IReadOnlyDictionary<string, Action<BinaryReader>> streams, IReadOnlySet<string>? optional = null)
    {
        ArgumentNullException.ThrowIfNull(context);
        var type = CoreType("Microsoft.ML.ModelLoadContext");
        if (!type.IsInstanceOfType(context)) throw new ArgumentException($"Expected ML.NET's ModelLoadContext, got {context.GetType()}.", nameof(context));
        try
        {
            Method(type, "CheckAtModel", CoreType("Microsoft.ML.VersionInfo")).Invoke(context, [VersionInfo(format)]);
        }
        catch (TargetInvocationException e) when (e.InnerException is not null)
        {
            throw new InvalidDataException($"Cannot load {format.Loader.Name}: {e.InnerException.Message} (this library reads format versions {format.OldestReadable} to {format.Version}).", e.InnerException);
        }
        var reader = (BinaryReader)Field(context, "Reader");
        int count = reader.ReadInt32();
        var names = new HashSet<string>();
        for (int i = 0; i < count; i++) names.Add(reader.ReadString());
        var tryLoad = Method(type, "TryLoadBinaryStream", typeof(string), typeof(Action<BinaryReader>));
        foreach (var (name, read) in streams)
        {
            bool found;
            try
            {
                found = names.Contains(name) && (bool)tryLoad.Invoke(context, [name, read])!;
            }
            catch (TargetInvocationException e) when (e.InnerException is not null)
            {
                throw new InvalidDataException($"The '{name}' entry of {format.Loader.Name} is corrupt: {e.InnerException.Message}", e.InnerException);
            }
            if (!found && !(optional?.Contains(name) == true && !names.Contains(name)))
                throw new InvalidDataException($"The model file has no '{name}' entry for {format.Loader.Name}; it is incomplete or was not saved by this library.");
        }
    }

    /// <summary>
    /// Registers the loaders of <paramref name="formats"/> with <paramref name="catalog"/> (one per MLContext), once. ML.NET resolves loaders per MLContext, and ours cannot be declared with its internal attribute, so
    /// they are added the way the attribute would add them.
    /// </summary>
    public static void Register(ComponentCatalog catalog, IEnumerable<ComponentFormat> formats)
    {
        lock (Registered)
        {
            if (Registered.TryGetValue(catalog, out _)) return;
            var signature = CoreType("Microsoft.ML.SignatureLoadModel");
            var attributeType = CoreType("Microsoft.ML.LoadableClassAttribute");
            var infoType = CoreType("Microsoft.ML.Runtime.ComponentCatalog+LoadableClassInfo");
            var attributeCtor = attributeType.GetConstructor(Any, [typeof(Type), typeof(Type), typeof(Type), typeof(Type), typeof(string), typeof(string[])])
                ?? throw Incompatible("the LoadableClassAttribute constructor");
            var infoCtor = infoType.GetConstructors(Any).SingleOrDefault(c => c.GetParameters().Length == 5)
                ?? throw Incompatible("the LoadableClassInfo constructor");
            var addClass = Method(typeof(ComponentCatalog), "AddClass", infoType, typeof(string[]), typeof(bool));
            foreach (var format in formats)
            {
                var create = format.Loader.GetMethod("Create", Any, null, [typeof(IHostEnvironment), typeof(object)], null)
                    ?? throw new InvalidOperationException($"{format.Loader.Name} lacks Create(IHostEnvironment, object).");
                var attribute = attributeCtor.Invoke([format.Loader, format.Loader, null, signature, format.Loader.Name, new[] { format.LoaderSignature }]);
                var info = infoCtor.Invoke([attribute, null, null, create, true]);
                addClass.Invoke(catalog, [info, new[] { format.LoaderSignature }, false]);
            }
            Registered.Add(catalog, new object());
        }
    }
}
