using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Syntax;

namespace LatentDiffusion.Tests.Repository;

/// <summary>
/// One place where code of a project names a type or a member of another namespace: in which file and line, from
/// which namespace and type, to which assembly, namespace and symbol.
/// </summary>
public sealed record SymbolUse(string File, int Line, string FromNamespace, string FromType, string ToAssembly, string ToNamespace, string ToSymbol)
{
    public override string ToString() => $"{File}:{Line}: {FromType} ({FromNamespace}) uses {ToSymbol} ({ToAssembly}: {ToNamespace})";

    /// <summary>Every name in the project's hand-written sources that binds to a type or member, constants included.</summary>
    public static IReadOnlyList<SymbolUse> Of(ProjectSources project) => Of(project.Compilation, project.Files.ToHashSet());

    /// <summary>
    /// Every name in the given trees of a compilation that binds to a type or member. The user's namespace is the one
    /// its file declares (names in using directives count too: a static using is a dependency).
    /// </summary>
    public static IReadOnlyList<SymbolUse> Of(CSharpCompilation compilation, IReadOnlySet<string> files)
    {
        var uses = new List<SymbolUse>();
        foreach (var tree in compilation.SyntaxTrees.Where(t => files.Contains(t.FilePath)))
        {
            var model = compilation.GetSemanticModel(tree);
            var root = tree.GetRoot();
            string fileNamespace = root.DescendantNodes().OfType<BaseNamespaceDeclarationSyntax>().FirstOrDefault()?.Name.ToString() ?? "";
            foreach (var name in root.DescendantNodes().OfType<SimpleNameSyntax>())
            {
                var target = Target(model, name, out var symbol);
                if (target is null) continue;
                var from = model.GetEnclosingSymbol(name.SpanStart);
                var fromType = from as INamedTypeSymbol ?? from?.ContainingType;
                uses.Add(new SymbolUse(ProjectSources.Relative(tree.FilePath), name.GetLocation().GetLineSpan().StartLinePosition.Line + 1,
                    fileNamespace, fromType?.ToDisplayString() ?? "<file>", target.ContainingAssembly.Name, target.ContainingNamespace.ToDisplayString(),
                    symbol is INamedTypeSymbol ? target.ToDisplayString() : $"{target.ToDisplayString()}.{symbol.Name}"));
            }
        }
        return uses;
    }

    /// <summary>The type a name binds to, or the type that declares the member it binds to; null for locals, namespaces and the like.</summary>
    private static INamedTypeSymbol? Target(SemanticModel model, SimpleNameSyntax name, out ISymbol? symbol)
    {
        var info = model.GetSymbolInfo(name);
        symbol = info.Symbol ?? info.CandidateSymbols.FirstOrDefault();
        if (symbol is null or INamespaceSymbol or ILocalSymbol or IParameterSymbol or ILabelSymbol or IRangeVariableSymbol
            or ITypeParameterSymbol or IDiscardSymbol) return null;
        var target = (symbol as INamedTypeSymbol ?? symbol.ContainingType)?.OriginalDefinition;
        return target?.ContainingAssembly is null ? null : target;
    }
}
