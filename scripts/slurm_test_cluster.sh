#!/usr/bin/env bash
# A real single-node SLURM cluster on this machine, for tests and for trying the SLURM profile.
#
#   eval "$(scripts/slurm_test_cluster.sh start [DIR])"   # exports SLURM_CONF=DIR/slurm.conf, PATH=DIR/bin:$PATH
#   sinfo; sbatch --wrap 'hostname'; ...                   # any SLURM client, with SLURM_CONF set
#   scripts/slurm_test_cluster.sh stop [DIR]               # kills the daemons it started, by pid
#   scripts/slurm_test_cluster.sh status [DIR]
#
# DIR (default ${TMPDIR:-/tmp}/senca-slurm-test) holds everything: slurm.conf, the munge key and
# socket, state/spool dirs, pid files and daemon logs (DIR/log/). No systemd, no /etc changes: munged,
# slurmctld and slurmd run with their own config, socket and pid files. Without slurmctld/slurmd/munge
# it installs the Debian packages (slurmctld slurmd slurm-client munge) with apt-get when it can
# (root, or passwordless sudo); otherwise it exits 3 with the reason (tests skip on 3).
# There is no slurmdbd: sacct reports accounting as disabled, so use squeue for job status
# (snakemake: --slurm-status-command squeue, as profiles/slurm-testcluster does). MinJobAge=3600
# keeps finished jobs visible to `squeue --states=all` for an hour (a whole test run).
# Environment: SENCA_SLURM_PARTITION (default "debug"), SENCA_SLURM_PORT (slurmctld port; slurmd
# uses the next one; default: the first free pair from 6817).
set -euo pipefail

CANNOT=3 # exit status: SLURM cannot be installed or started here (a reason, not a bug)
ACTION=${1:-}
DIR=${2:-${TMPDIR:-/tmp}/senca-slurm-test}
PARTITION=${SENCA_SLURM_PARTITION:-debug}
PACKAGES=(slurmctld slurmd slurm-client munge)

log() { echo "slurm_test_cluster: $*" >&2; }
die() {
	log "$2"
	exit "$1"
}

# Root for the daemons and apt-get: ourselves, or passwordless sudo.
if [[ $EUID -eq 0 ]]; then
	SUDO=()
	ROOT=yes
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
	SUDO=(sudo -n)
	ROOT=yes
else
	SUDO=()
	ROOT=no
fi
as_root() { "${SUDO[@]}" "$@"; }
have_root() { [[ $ROOT == yes ]]; }

find_bin() { # daemons live in /usr/sbin, which a non-root PATH may lack
	command -v "$1" 2>/dev/null || { [[ -x /usr/sbin/$1 ]] && echo "/usr/sbin/$1"; } || true
}

install_packages() {
	local missing=0 b
	for b in slurmctld slurmd munged sbatch squeue sinfo scontrol; do
		[[ -n $(find_bin "$b") ]] || missing=1
	done
	[[ $missing -eq 0 ]] && return 0
	have_root || die $CANNOT "SLURM is not installed and there is no root or passwordless sudo to apt-get install ${PACKAGES[*]}"
	command -v apt-get >/dev/null 2>&1 || die $CANNOT "SLURM is not installed and apt-get is not available to install ${PACKAGES[*]}"
	log "installing ${PACKAGES[*]} with apt-get (no systemd: the packages' services are not started)"
	as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q >&2 ||
		die $CANNOT "apt-get update failed: cannot install ${PACKAGES[*]}"
	as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${PACKAGES[@]}" >&2 ||
		die $CANNOT "apt-get install ${PACKAGES[*]} failed"
}

port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

pick_ports() {
	local p=${SENCA_SLURM_PORT:-6817}
	if [[ -z ${SENCA_SLURM_PORT:-} ]]; then
		while ! { port_free "$p" && port_free $((p + 1)); }; do p=$((p + 2)); done
	fi
	CTLD_PORT=$p
	SLURMD_PORT=$((p + 1))
}

exports() { # for eval: the config for clients, and the wrappers first on PATH
	echo "export SLURM_CONF=$DIR/slurm.conf"
	echo "export PATH=\"$DIR/bin:\$PATH\""
}

pid_alive() { [[ -n ${1:-} ]] && kill -0 "$1" 2>/dev/null; }
pid_of() { [[ -s $DIR/run/$1.pid ]] && cat "$DIR/run/$1.pid" || true; }

write_config() {
	local node cpus
	# The node as slurmd sees it (CPUs, sockets/cores/threads, RealMemory in MB), named localhost.
	node=$("$SLURMD" -C | head -n1) || die $CANNOT "slurmd -C failed: cannot read this machine's CPUs and memory"
	node=$(echo "$node" | sed -E 's/^NodeName=[^ ]+/NodeName=localhost/')
	cpus=$(echo "$node" | sed -E 's/.*CPUs=([0-9]+).*/\1/')
	mkdir -p "$DIR"/{munge,state,spool,run,log}
	chmod 0755 "$DIR" "$DIR/munge"
	: >"$DIR/plugstack.conf"
	cat >"$DIR/slurm.conf" <<EOF
# Written by scripts/slurm_test_cluster.sh: a single-node test cluster, no accounting (no slurmdbd).
ClusterName=senca-test
SlurmctldHost=localhost
SlurmctldPort=$CTLD_PORT
SlurmdPort=$SLURMD_PORT
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket=$DIR/munge/munge.socket
CredType=cred/munge
StateSaveLocation=$DIR/state
SlurmdSpoolDir=$DIR/spool/slurmd-%n
SlurmctldPidFile=$DIR/run/slurmctld.pid
SlurmdPidFile=$DIR/run/slurmd.pid
SlurmctldLogFile=$DIR/log/slurmctld.log
SlurmdLogFile=$DIR/log/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
PlugStackConfig=$DIR/plugstack.conf
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
SchedulerType=sched/backfill
MpiDefault=none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
# Finished jobs stay in slurmctld (and squeue --states=all) for an hour: squeue-based status works
# and a test can check, after the run, that every job it submitted COMPLETED.
MinJobAge=3600
ReturnToService=2
SlurmdTimeout=300
InactiveLimit=0
KillWait=10
$node NodeAddr=127.0.0.1 State=UNKNOWN
PartitionName=$PARTITION Nodes=localhost Default=YES MaxTime=INFINITE State=UP OverSubscribe=NO
EOF
	# Client wrappers that carry the config: snakemake's SLURM jobstep strips SLURM_* variables
	# (SLURM_CONF included) before its `srun` inside a job, and a real cluster's config sits in
	# /etc/slurm, which this script leaves alone. With DIR/bin first on PATH every client finds it.
	mkdir -p "$DIR/bin"
	local tool real
	for tool in srun sbatch squeue sinfo scontrol scancel sacct; do
		real=$(find_bin "$tool")
		[[ -n $real ]] || continue
		printf '#!/bin/sh\n# %s for the test cluster in %s\nSLURM_CONF=%s/slurm.conf exec %s "$@"\n' \
			"$tool" "$DIR" "$DIR" "$real" >"$DIR/bin/$tool"
		chmod 0755 "$DIR/bin/$tool"
	done
	log "node: $node; partition: $PARTITION ($cpus CPUs)"
}

start_munge() {
	local key=$DIR/munge/munge.key
	if [[ ! -s $key ]]; then
		if command -v mungekey >/dev/null 2>&1 || [[ -x /usr/sbin/mungekey ]]; then
			"$(find_bin mungekey)" --create --keyfile="$key" >&2
		else
			dd if=/dev/urandom of="$key" bs=1 count=1024 status=none
		fi
		chmod 0400 "$key"
	fi
	# As root, munged insists on root-owned files and a non-world-writable path: all hold in DIR.
	"$MUNGED" --force --socket="$DIR/munge/munge.socket" --key-file="$key" \
		--pid-file="$DIR/run/munged.pid" --log-file="$DIR/log/munged.log" \
		--seed-file="$DIR/munge/munged.seed" ||
		die $CANNOT "munged did not start (see $DIR/log/munged.log)"
	for _ in $(seq 50); do
		[[ -S $DIR/munge/munge.socket ]] && return 0
		sleep 0.1
	done
	die $CANNOT "munged socket $DIR/munge/munge.socket did not appear (see $DIR/log/munged.log)"
}

wait_idle() {
	local state=""
	for _ in $(seq 120); do
		state=$(SLURM_CONF=$DIR/slurm.conf sinfo -h -N -n localhost -o %T 2>/dev/null || true)
		case $state in
		idle*) return 0 ;;
		drain* | down*)
			SLURM_CONF=$DIR/slurm.conf "$SCONTROL" update NodeName=localhost State=RESUME >/dev/null 2>&1 || true
			;;
		esac
		sleep 0.5
	done
	die $CANNOT "the node did not become idle (state: '${state:-none}'); see $DIR/log/slurmctld.log and slurmd.log"
}

start() {
	if pid_alive "$(pid_of slurmctld)"; then
		log "already running in $DIR"
		exports
		return 0
	fi
	install_packages
	SLURMCTLD=$(find_bin slurmctld)
	SLURMD=$(find_bin slurmd)
	MUNGED=$(find_bin munged)
	SCONTROL=$(find_bin scontrol)
	if ! have_root; then
		die $CANNOT "slurmctld/slurmd need root (SlurmUser=root) and there is no root or passwordless sudo"
	fi
	if [[ $EUID -ne 0 ]]; then # run ourselves as root, keep the caller's view of DIR
		exec "${SUDO[@]}" env TMPDIR="${TMPDIR:-/tmp}" SENCA_SLURM_PARTITION="$PARTITION" \
			${SENCA_SLURM_PORT:+SENCA_SLURM_PORT=$SENCA_SLURM_PORT} "$0" start "$DIR"
	fi
	pick_ports
	write_config
	start_munge
	export SLURM_CONF=$DIR/slurm.conf
	"$SLURMCTLD" -f "$SLURM_CONF" -i || die $CANNOT "slurmctld did not start (see $DIR/log/slurmctld.log)"
	"$SLURMD" -f "$SLURM_CONF" -N localhost || die $CANNOT "slurmd did not start (see $DIR/log/slurmd.log)"
	wait_idle
	log "cluster up: slurmctld pid $(pid_of slurmctld), slurmd pid $(pid_of slurmd), munged pid $(pid_of munged)"
	exports
}

stop() {
	local name pid stopped=0
	[[ -d $DIR/run ]] || {
		log "nothing to stop in $DIR"
		return 0
	}
	for name in slurmd slurmctld munged; do
		pid=$(pid_of "$name")
		if pid_alive "$pid"; then
			as_root kill "$pid" 2>/dev/null || true
			for _ in $(seq 100); do
				pid_alive "$pid" || break
				sleep 0.1
			done
			if pid_alive "$pid"; then
				as_root kill -9 "$pid" 2>/dev/null || true
			fi
			stopped=$((stopped + 1))
		fi
		as_root rm -f "$DIR/run/$name.pid" 2>/dev/null || true
	done
	log "stopped $stopped daemon(s) started in $DIR"
}

status() {
	local name pid rc=0
	for name in munged slurmctld slurmd; do
		pid=$(pid_of "$name")
		if pid_alive "$pid"; then echo "$name: running (pid $pid)"; else
			echo "$name: not running"
			rc=1
		fi
	done
	[[ $rc -eq 0 ]] && SLURM_CONF=$DIR/slurm.conf sinfo
	return $rc
}

case $ACTION in
start) start ;;
stop) stop ;;
status) status ;;
*)
	echo "usage: $0 start|stop|status [DIR]" >&2
	exit 2
	;;
esac
