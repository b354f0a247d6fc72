# syntax=docker/dockerfile:1
# Tandem: one image for every role (tandem serve --role all|frontend|prefill|decode); the role is in the arguments.
#
#   docker build -t tandem .
#   docker run --rm -p 8000:8000 -v /path/to/models:/models:ro tandem                       # model.gguf in /models
#   docker run --rm -p 8000:8000 -v /path/to/models:/models:ro tandem serve --model /models/other.gguf --host 0.0.0.0
#
# Every argument after the image name replaces the default command below, so the Kubernetes manifests in
# deploy/kubernetes/ give each role its own `args`. The model is never baked in: mount it (a volume, a host path or a
# read-only PersistentVolume) and point --model at it. (Only the CLI's 1 MB demo model, stories260K, is inside: what
# `tandem serve` with no --model serves.)

ARG DOTNET_VERSION=10.0

# The SDK runs on the build machine's platform and publishes for the image's (TARGETARCH: amd64, arm64), so a
# multi-platform build (docker buildx build --platform linux/amd64,linux/arm64) needs no emulated SDK.
FROM --platform=$BUILDPLATFORM mcr.microsoft.com/dotnet/sdk:${DOTNET_VERSION} AS build
ARG TARGETARCH
WORKDIR /src
# The whole src/ at once rather than project files first: the restore is cached in the NuGet cache mount instead,
# so a new project under src/ needs no change here.
COPY Directory.Build.props Directory.Packages.props ./
COPY src/ src/
# For one architecture (-a): the native libraries of the plotting packages come for that one only, not for all
# fifteen platforms (155 MB of the 162 MB a portable publish is).
RUN --mount=type=cache,id=tandem-nuget,target=/root/.nuget/packages \
    dotnet publish src/Tandem.Cli/Tandem.Cli.csproj -c Release -a $TARGETARCH --no-self-contained -o /app -p:UseAppHost=false

# The ASP.NET Core runtime image: the server is ASP.NET Core (Kestrel), the CLI a framework-dependent tandem.dll.
FROM mcr.microsoft.com/dotnet/aspnet:${DOTNET_VERSION} AS runtime
WORKDIR /app
COPY --from=build /app ./
# The non-root user the .NET images ship (app, uid $APP_UID = 1654): the process needs nothing but to read the
# model and open its port (8000 and up, no privilege), and Kubernetes' runAsNonRoot can check the numeric uid.
USER $APP_UID
# The base image listens on 8080 by default (ASPNETCORE_HTTP_PORTS); tandem serve listens where --host/--port say,
# and the leftover default only made Kestrel warn "Overriding address(es) 'http://*:8080'" at every start.
ENV ASPNETCORE_HTTP_PORTS=
# 8000: the OpenAI API (frontend, or a single process with --role all); 9000: the workers' port in deploy/kubernetes.
EXPOSE 8000 9000
ENTRYPOINT ["dotnet", "tandem.dll"]
CMD ["serve", "--model", "/models/model.gguf", "--host", "0.0.0.0", "--port", "8000"]
