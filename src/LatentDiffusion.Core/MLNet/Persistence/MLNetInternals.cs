using System.Reflection;
using System.Runtime.CompilerServices;
using Microsoft.ML;
using Microsoft.ML.Runtime;

namespace LatentDiffusion.MLNet.Persistence;


/// <summary>
/// The single place that touches ML.NET internals: its model format, schema shapes and the context behind a catalog.
/// Why it exists: <see cref="ICanSaveModel"/> and
/// <see cref="ModelSaveContext"/> are public, but everything that writes through the save context, the load context,
/// <c>VersionInfo</c>, <c>LoadableClassAttribute</c> and the catalog's registration are internal to ML.NET. They are
/// reached here by reflection, against the exactly pinned Microsoft.ML version (Directory.Packages.props); if a
/// member is missing the error says so instead of failing somewhere deep. Loading reads only data (numbers, strings,
/// raw weights), never code or type names from the file.
/// </summary>
public static class MLNetInternals
{
    private const BindingFlags Any = BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Instance | BindingFlags.Static;
    private static readonly Assembly Core = typeof(ModelSaveContext).Assembly;
    private static readonly ConditionalWeakTable<object, object> Registered = new();

    private static Type CoreType(string name) => Core.GetType(name)
        ?? throw Incompatible($"type {name}");

    /// <summary>The refusal when a member the bridge needs is missing: which member, in which ML.NET release, and the tested range.</summary>
    internal static InvalidOperationException Incompatible(string what) => new(
        $"The ML.NET model-format bridge could not find {what} in {Core.GetName().Name} {Release(Core)}: LatentDiffusion is tested on "
        + "Microsoft.ML 5.0.1 and 6.0.0 (it declares [5.0.1, 7.0.0)), so reference a release in that range.");

    /// <summary>An assembly's release as its package names it (its informational version without the source hash).</summary>
    private static string Release(Assembly assembly) =>
        assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion.Split('+')[0]
            ?? assembly.GetName().Version?.ToString() ?? "?";

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
        (SchemaShape)(typeof(SchemaShape).GetMethod("Create", BindingFlags.NonPublic | BindingFlags.Public | BindingFlags.Static, null,
            [typeof(DataViewSchema)], null)
            ?? throw Incompatible("SchemaShape.Create")).Invoke(null, [schema])!;

    /// <summary>
    /// The environment of the MLContext a catalog belongs to, needed to log to <see cref="MLContext.Log"/> (its
    /// channels reach the context's log) and to register our loaders with the context's component catalog. ML.NET's
    /// catalogs hold it as <c>Environment</c>, which they implement only explicitly (<c>IInternalCatalog.Environment</c>);
    /// a property of that name on the catalog's type is used too. When neither gives it (a future ML.NET, or a catalog
    /// not made by an MLContext) this fails with one sentence instead of going on without registration and logging.
    /// </summary>
    public static IHostEnvironment EnvironmentOf(object catalog)
    {
        ArgumentNullException.ThrowIfNull(catalog);
        var type = catalog.GetType();
        var candidates = type.GetInterfaces().Select(i => i.GetProperty("Environment", Any))
            .Concat(Hierarchy(type).Select(t => t.GetProperty("Environment", Any | BindingFlags.DeclaredOnly)));
        foreach (var property in candidates)
            if (property?.GetIndexParameters().Length == 0 && property.GetValue(catalog) is IHostEnvironment environment) return environment;
        throw new InvalidOperationException($"LatentDiffusion could not find the MLContext behind {type.Name} (ML.NET's "
            + $"IInternalCatalog.Environment) in {type.Assembly.GetName()}; it needs it to register its model loaders and to log to MLContext.Log. "
            + "LatentDiffusion is built and tested against Microsoft.ML 5.0.1 exactly; reference that version.");
    }

    private static IEnumerable<Type> Hierarchy(Type? type)
    {
        for (; type is not null; type = type.BaseType) yield return type;
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
    /// Opens a component saved by <see cref="Save"/>: checks the version header (this library reads
    /// <see cref="ComponentFormat.OldestReadable"/> to <see cref="ComponentFormat.Version"/>) and lists its streams.
    /// </summary>
    public static ModelStreams Open(object context, ComponentFormat format)
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
            throw new ModelFileException(format.Loader.Name, null,
                $"Cannot load {format.Loader.Name}: {e.InnerException.Message} (this library reads format versions {format.OldestReadable} to "
                    + $"{format.Version}).", e.InnerException);
        }
        CheckDeclaredSizes(context, format);
        var header = Field(context, "Header");
        uint version = (uint)(header.GetType().GetField("ModelVerWritten", Any) ?? throw Incompatible("ModelHeader.ModelVerWritten")).GetValue(header)!;
        var reader = (BinaryReader)Field(context, "Reader");
        int count = reader.ReadInt32();
        if (count is < 0 or > 1000) throw new ModelFileException(format.Loader.Name, null,
            $"{format.Loader.Name} lists {count} streams; the model file is corrupt.");
        var names = new HashSet<string>();
        for (int i = 0; i < count; i++) names.Add(reader.ReadString());
        var tryLoad = Method(type, "TryLoadBinaryStream", typeof(string), typeof(Action<BinaryReader>));
        return new ModelStreams(format, version, names, (name, read) => (bool)tryLoad.Invoke(context, [name, read])!);
    }

    /// <summary>The most an entry of one of our components may declare: the largest weight stream and its framing.</summary>
    public const long MaxEntryBytes = MaxPayloadBytes + 4096L;

    /// <summary>The largest payload one entry carries (a network's weights; an exported ONNX graph).</summary>
    public const int MaxPayloadBytes = IO.WeightArchive.MaxBytes;

    /// <summary>
    /// ML.NET inflates a whole entry (to a temp file or memory) when it is opened, as much as the zip declares for it;
    /// before any of this component's entries is opened, each declared size is checked against
    /// <see cref="MaxEntryBytes"/>, so a file cannot make loading inflate more than that.
    /// </summary>
    private static void CheckDeclaredSizes(object context, ComponentFormat format)
    {
        var repository = Field(context, "Repository");
        if (repository.GetType().GetField("_entries", Any)?.GetValue(repository) is not IDictionary<string, System.IO.Compression.ZipArchiveEntry> entries)
            throw Incompatible("RepositoryReader._entries");
        string directory = context.GetType().GetField("Directory", Any)?.GetValue(context) as string ?? "";
        string prefix = directory.Length == 0 ? "" : directory.Replace('\\', '/').TrimEnd('/') + "/";
        foreach (var (path, entry) in entries)
        {
            string name = path.Replace('\\', '/');
            if (!name.StartsWith(prefix, StringComparison.Ordinal) || name.IndexOf('/', prefix.Length) >= 0) continue;
            if (entry.Length > MaxEntryBytes)
                throw new ModelFileException(format.Loader.Name, name[prefix.Length..],
                    $"The '{name[prefix.Length..]}' entry of {format.Loader.Name} declares {entry.Length:N0} bytes uncompressed; an entry of this "
                        + $"library holds at most {MaxEntryBytes:N0}.");
        }
    }

    /// <summary>
    /// The device a model loaded into the MLContext behind <paramref name="env"/> should live on: its GpuDeviceId and
    /// FallbackToCpu settings.
    /// </summary>
    public static (int? GpuDeviceId, bool FallbackToCpu) DeviceSettings(IHostEnvironment env)
    {
        var settings = env.GetType().GetInterfaces().FirstOrDefault(i => i.FullName == "Microsoft.ML.Runtime.IHostEnvironmentInternal");
        if (settings is null) return (null, true);
        return ((int?)settings.GetProperty("GpuDeviceId")!.GetValue(env), (bool)settings.GetProperty("FallbackToCpu")!.GetValue(env)!);
    }

    /// <summary>
    /// Registers the loaders of <paramref name="formats"/> with <paramref name="catalog"/> (one per MLContext); a
    /// format already registered there is left as it is, so each package registers its own components whatever the
    /// order. ML.NET resolves loaders per MLContext, and ours cannot be declared with its internal attribute, so they
    /// are added the way the attribute would add them.
    /// </summary>
    public static void Register(ComponentCatalog catalog, IEnumerable<ComponentFormat> formats)
    {
        ArgumentNullException.ThrowIfNull(catalog);
        lock (Registered)
        {
            var done = (HashSet<string>)Registered.GetValue(catalog, _ => new HashSet<string>(StringComparer.Ordinal));
            var missing = formats.Where(f => !done.Contains(f.LoaderSignature)).ToList();
            if (missing.Count == 0) return;
            var signature = CoreType("Microsoft.ML.SignatureLoadModel");
            var attributeType = CoreType("Microsoft.ML.LoadableClassAttribute");
            var infoType = CoreType("Microsoft.ML.Runtime.ComponentCatalog+LoadableClassInfo");
            var attributeCtor = attributeType.GetConstructor(Any, [typeof(Type), typeof(Type), typeof(Type), typeof(Type), typeof(string), typeof(string[])])
                ?? throw Incompatible("the LoadableClassAttribute constructor");
            var infoCtor = infoType.GetConstructors(Any).SingleOrDefault(c => c.GetParameters().Length == 5)
                ?? throw Incompatible("the LoadableClassInfo constructor");
            var addClass = Method(typeof(ComponentCatalog), "AddClass", infoType, typeof(string[]), typeof(bool));
            foreach (var format in missing)
            {
                var create = format.Loader.GetMethod("Create", Any, null, [typeof(IHostEnvironment), typeof(object)], null)
                    ?? throw new InvalidOperationException($"{format.Loader.Name} lacks Create(IHostEnvironment, object).");
                var attribute = attributeCtor.Invoke([format.Loader, format.Loader, null, signature, format.Loader.Name, new[] { format.LoaderSignature }]);
                var info = infoCtor.Invoke([attribute, null, null, new UnwrappedMethod(create), true]);
                addClass.Invoke(catalog, [info, new[] { format.LoaderSignature }, false]);
                done.Add(format.LoaderSignature);
            }
            if (done.Add(ChainLoader)) UnwrapChainLoader(catalog, infoType);
        }
    }

    /// <summary>The key under which a catalog's unwrapped chain loader is recorded beside the registered formats.</summary>
    private const string ChainLoader = "<TransformerChain>";

    /// <summary>
    /// ML.NET's own loader of saved chains (what <c>mlContext.Model.Save</c> writes for a fitted pipeline) is invoked by
    /// reflection too, so a component of ours that refuses a damaged file inside a chain reached the caller as a
    /// <see cref="TargetInvocationException"/>. In this catalog its create method becomes an <see cref="UnwrappedMethod"/>:
    /// the same method, whose exceptions arrive as thrown.
    /// </summary>
    private static void UnwrapChainLoader(ComponentCatalog catalog, Type infoType)
    {
        catalog.RegisterAssembly(typeof(Microsoft.ML.Data.TransformerChain<>).Assembly);
        var create = infoType.GetField("<CreateMethod>k__BackingField", Any) ?? throw Incompatible("LoadableClassInfo.CreateMethod");
        var loadNames = infoType.GetProperty("LoadNames", Any) ?? throw Incompatible("LoadableClassInfo.LoadNames");
        if (Field(catalog, "_classes") is not System.Collections.IEnumerable classes) throw Incompatible("ComponentCatalog._classes");
        foreach (var info in classes)
            if (loadNames.GetValue(info) is IReadOnlyList<string> names && names.Contains("TransformerChain")
                && create.GetValue(info) is MethodInfo method && method is not UnwrappedMethod)
                create.SetValue(info, new UnwrappedMethod(method));
    }

    /// <summary>
    /// A loader's Create method as ML.NET sees it, invoked through a compiled delegate instead of reflection: ML.NET
    /// calls loaders with <see cref="MethodBase.Invoke(object, object[])"/>, which would wrap every exception of ours
    /// in a <see cref="TargetInvocationException"/>; through this the caller of <c>mlContext.Model.Load</c> gets the
    /// loader's own exception. Everything else is the real method's.
    /// </summary>
    private sealed class UnwrappedMethod(MethodInfo method) : MethodInfo
    {
        private readonly Func<object?[], object?> call = Compile(method);

        private static Func<object?[], object?> Compile(MethodInfo method)
        {
            var arguments = System.Linq.Expressions.Expression.Parameter(typeof(object?[]), "arguments");
            var parameters = method.GetParameters().Select((p, i) => System.Linq.Expressions.Expression.Convert(
                System.Linq.Expressions.Expression.ArrayIndex(arguments, System.Linq.Expressions.Expression.Constant(i)), p.ParameterType));
            var body = System.Linq.Expressions.Expression.Convert(System.Linq.Expressions.Expression.Call(method, parameters), typeof(object));
            return System.Linq.Expressions.Expression.Lambda<Func<object?[], object?>>(body, arguments).Compile();
        }

        public override object? Invoke(object? obj, BindingFlags invokeAttr, Binder? binder, object?[]? parameters,
            System.Globalization.CultureInfo? culture) =>
            call(parameters ?? []);

        public override ICustomAttributeProvider ReturnTypeCustomAttributes => method.ReturnTypeCustomAttributes;
        public override Type ReturnType => method.ReturnType;
        public override ParameterInfo ReturnParameter => method.ReturnParameter;
        public override MethodAttributes Attributes => method.Attributes;
        public override RuntimeMethodHandle MethodHandle => method.MethodHandle;
        public override Type? DeclaringType => method.DeclaringType;
        public override string Name => method.Name;
        public override Type? ReflectedType => method.ReflectedType;
        public override MethodInfo GetBaseDefinition() => method.GetBaseDefinition();
        public override object[] GetCustomAttributes(bool inherit) => method.GetCustomAttributes(inherit);
        public override object[] GetCustomAttributes(Type attributeType, bool inherit) => method.GetCustomAttributes(attributeType, inherit);
        public override bool IsDefined(Type attributeType, bool inherit) => method.IsDefined(attributeType, inherit);
        public override MethodImplAttributes GetMethodImplementationFlags() => method.GetMethodImplementationFlags();
        public override ParameterInfo[] GetParameters() => method.GetParameters();
        public override bool ContainsGenericParameters => method.ContainsGenericParameters;
        public override bool IsGenericMethod => method.IsGenericMethod;
    }
}
