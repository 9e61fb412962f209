#!/usr/bin/env bash
# The post-deploy script of every env in envs/ (each <env>.post-deploy.sh links here): Snakemake
# (--use-conda) runs it once inside the freshly created env to install the senca_st package from
# this repository, editable (code changes reach the env) and without dependencies (the env file
# pins them). The repository is $SENCA_ST_ROOT (rules/common.smk sets it to the workflow's base
# directory), else the directory snakemake runs in.
set -euo pipefail
root=${SENCA_ST_ROOT:-$PWD}
if [[ ! -f $root/pyproject.toml || ! -d $root/src/senca_st ]]; then
	echo "post-deploy: $root is not the senca-st repository; run snakemake from the repository root or set SENCA_ST_ROOT" >&2
	exit 1
fi
python -m pip install --no-deps --no-build-isolation --disable-pip-version-check -q -e "$root"
