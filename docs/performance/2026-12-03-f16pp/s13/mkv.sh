#!/bin/bash
# build the worktree's engine into variant $1
set -e
cd /work/wt-f16pp
dotnet build src/Tandem.Engine -c Release -o /work/artifacts/s13-f16pp/eng-$1 2>&1 | grep -E " error |rror\(s\)" | head -5
cd /work/artifacts/s13-f16pp && rm -rf $1 && mkdir $1 && cp harness/out/* $1/ && cp eng-$1/Tandem.Engine.dll $1/
