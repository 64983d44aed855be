#!/usr/bin/env bash
# Deployment figures of issue 29: two fresh console apps that open a trained generator and write its first image as a
# PNG, one with LatentDiffusion.Onnx + ONNX Runtime (from an exported folder), one with LatentDiffusion + TorchSharp-cpu
# (from the model.zip); both published framework-dependent for linux-x64. Prints each published folder's size and the
# wall time from process start to the first image written (median of 5 runs, each a new process).
# Usage: bash examples/DeployFigures/measure.sh MODEL_ZIP [WORK_FOLDER]   (from the repository root)
set -euo pipefail
model=$(realpath "$1")
work=$(realpath -m "${2:-artifacts/deploy-figures}")
root=$(pwd)
version="0.1.0-deploy.$(date +%Y%m%d%H%M%S)"
rm -rf "$work" && mkdir -p "$work/feed"
dotnet build -c Release LatentDiffusion.sln -v q -nologo >/dev/null
for p in src/LatentDiffusion.Onnx src/LatentDiffusion; do
  dotnet pack "$p" -c Release --no-build -o "$work/feed" -p:PackageVersion="$version" -v q -nologo >/dev/null
done
dotnet examples/MnistLatentDiffusion/bin/Release/net10.0/MnistLatentDiffusion.dll export --model "$model" --out "$work/onnx" >/dev/null

app() {  # name, package lines, program
  mkdir -p "$work/$1"
  cat > "$work/$1/$1.csproj" <<XML
<Project Sdk="Microsoft.NET.Sdk">
  <PropertyGroup><OutputType>Exe</OutputType><TargetFramework>net10.0</TargetFramework><ImplicitUsings>enable</ImplicitUsings>
    <Nullable>enable</Nullable><NoWarn>\$(NoWarn);NU1603</NoWarn></PropertyGroup>
  <ItemGroup>$2</ItemGroup>
</Project>
XML
  cat > "$work/$1/nuget.config" <<XML
<?xml version="1.0" encoding="utf-8"?>
<configuration><packageSources><add key="local" value="$work/feed" /></packageSources></configuration>
XML
  printf '%s\n' "$3" > "$work/$1/Program.cs"
  (cd "$work/$1" && dotnet publish -c Release -r linux-x64 --self-contained false -o "$work/$1/publish" -v q -nologo >/dev/null)
}

app OnnxFirstImage "<PackageReference Include=\"LatentDiffusion.Onnx\" Version=\"$version\" /><PackageReference Include=\"Microsoft.ML.OnnxRuntime\" Version=\"1.31.1\" />" '
using LatentDiffusion.Onnx;
using var generator = LatentDiffusion.Onnx.OnnxGenerator.Load(args[0]);
var image = generator.Generate([3], [42]);
PngFile.Save(image, generator.ImageShape, "first.png");
Console.WriteLine($"{(DateTime.Now - System.Diagnostics.Process.GetCurrentProcess().StartTime).TotalSeconds:F3}");'

app TorchFirstImage "<PackageReference Include=\"LatentDiffusion\" Version=\"$version\" /><PackageReference Include=\"TorchSharp-cpu\" Version=\"0.107.0\" />" '
using LatentDiffusion.MLNet;
using Microsoft.ML;
var ml = new MLContext(1);
ml.ComponentCatalog.RegisterLatentDiffusion();
var loaded = ml.Model.Load(args[0], out _);
var generator = (loaded as IEnumerable<ITransformer>)?.OfType<DigitGeneratorTransformer>().LastOrDefault() ?? (DigitGeneratorTransformer)loaded;
var image = generator.Generate([3], [42]);
using (var png = MLImages.FromPixels(image, generator.ImageShape[0], generator.ImageShape[1], generator.ImageShape[2])) png.Save("first.png");
Console.WriteLine($"{(DateTime.Now - System.Diagnostics.Process.GetCurrentProcess().StartTime).TotalSeconds:F3}");'

measure() {  # name, argument
  local times=()
  for i in 1 2 3 4 5; do
    local start=$(date +%s.%N)
    (cd "$work/$1/publish" && dotnet "$1.dll" "$2" >/dev/null)
    times+=("$(echo "$(date +%s.%N) - $start" | bc)")
  done
  local median=$(printf '%s\n' "${times[@]}" | sort -n | sed -n 3p)
  printf '%-16s published %6.1f MB (%s files)  start to first image: median %.2f s of 5 (%s)\n' "$1" \
    "$(du -sb "$work/$1/publish" | cut -f1 | awk '{print $1/1048576}')" "$(find "$work/$1/publish" -type f | wc -l)" "$median" "${times[*]}"
}
measure OnnxFirstImage "$work/onnx"
measure TorchFirstImage "$model"
