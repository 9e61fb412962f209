#!/usr/bin/env bash
# Snakemake (--use-conda) runs this once inside the freshly created env: install the senca_st package
# from this repository, editable (code changes reach the env) and without dependencies (the env file
# pins them). The repository is $SENCA_ST_ROOT (set by the workflow to its base directory), else the
# directory snakemake runs in. Same script for every env in envs/.
set -euo pipefail
root=${SENCA_ST_ROOT:-$PWD}
if [[ ! -f $root/pyproject.toml || ! -d $root/src/senca_st ]]; then
	echo "post-deploy: $root is not the senca-st repository; run snakemake from the repository root or set SENCA_ST_ROOT" >&2
	exit 1
fi
python -m pip install --no-deps --no-build-isolation --disable-pip-version-check -q -e "$root"
