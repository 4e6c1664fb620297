#!/usr/bin/env python3
"""The fault suite over real processes (issue 15, docs/reliability.md). Each group starts a
4-validator testnet behind per-link proxies (faultlib.py), puts it under steady load, injects
its faults one after another, and then checks: no record acknowledged as committed is lost, no
two nodes hold different blocks at a height, every read was a prefix of the final chain, and
commits resume after each fault (within a generous bound). It prints one row per fault: the
stall (longest gap between commits while the fault lasted), the recovery (heal -> next commit),
records acknowledged, lost, and divergence. Exit 0 when every check passed, 1 otherwise, 77 when
the group cannot run here (said why).

  scenarios.py BIN_DIR GROUP... [--long] [--seed N] [--base PORT] [--rate R] [--keep]

  stop    SIGSTOP one validator; SIGSTOP two (no quorum: nothing may commit), then SIGCONT
  net     one node cut off (links refuse); a 2-2 split (links blackhole: nothing may commit);
          50+-20 ms delay per chunk with connection loss on every link
  disk    a validator's data folder on an 8 MiB tmpfs that fills up: the node must stop with a
          clear message, and catch up once space is freed and it is started again (root only)
  crash   kill -9 of all four validators and restart, repeated; clocks skewed +-10 min with
          libfaketime (skipped, saying so, when faketime is not installed)
  all     every group, one after another

Short by default (a few seconds per fault; CTest runs each group). --long: more faults, longer
and random (seeded: --seed N picks nodes, durations and moments), for `make chaos`.
"""

import argparse
import os
import shutil
import signal
import subprocess
import sys
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import faultlib  # noqa: E402
from faultlib import Failure, Mode, Run, log  # noqa: E402

SKIP = 77
# Nothing may commit while a quorum is missing. Heights already under way when the fault
# began may still complete: at most this many above the highest head read right after it began.
QUORUMLESS_IN_FLIGHT = 2


def dur(args, short, lo, hi):
    """A fault's duration: `short` by default, random in [lo, hi] with --long."""
    return args.rng.uniform(lo, hi) if args.long else short


def highest(run, nodes):
    hs = [h for h in (run.tn.height(i) for i in nodes) if h is not None]
    return max(hs) if hs else None


def no_commit_since(run, f, h0, nodes, what="no quorum"):
    """Fails if the nodes that run went more than QUORUMLESS_IN_FLIGHT heights above h0."""
    h1 = highest(run, nodes)
    if h0 is None or h1 is None:
        run.fail(f"{f.name}: the running nodes did not answer ({h0}, {h1})")
    elif h1 > h0 + QUORUMLESS_IN_FLIGHT:
        run.fail(f"{f.name}: heights {h0} -> {h1} committed without a quorum")
    else:
        f.note = f"{what}: heights {h0} -> {h1} while it lasted"


def after_heal(run, f, nodes=(), bound=60):
    """Waits for the next commit after healing and for the given nodes to catch up."""
    f.bound = bound
    if run.wait_commit_after(f.heal, bound) is None:
        run.fail(f"{f.name}: no commit within {bound} s of healing")
        return
    for i in nodes:
        try:
            run.wait_catchup(f, i, bound)
        except Failure as e:
            run.fail(f"{f.name}: {e}")
    time.sleep(1.0)


# ---------------------------------------------------------------------------------------------

def group_stop(args):
    with Run(args.bin, "stop", args.base, seed=args.seed, rate=args.rate, keep=args.keep) as run:
        run.start()
        time.sleep(2)
        rounds = 3 if args.long else 1
        for _ in range(rounds):
            k = args.rng.randrange(4)
            d = dur(args, 4, 5, 30)
            f = run.fault(f"SIGSTOP node{k} {d:.0f} s")
            run.tn.signal(k, signal.SIGSTOP)
            time.sleep(d)
            run.tn.signal(k, signal.SIGCONT)
            run.healed(f)
            after_heal(run, f, nodes=[k])
        for _ in range(rounds):
            a, b = sorted(args.rng.sample(range(4), 2))
            d = dur(args, 6, 5, 40)
            f = run.fault(f"SIGSTOP node{a}+node{b} (no quorum) {d:.0f} s")
            run.tn.signal(a, signal.SIGSTOP)
            run.tn.signal(b, signal.SIGSTOP)
            others = [i for i in range(4) if i not in (a, b)]
            h0 = highest(run, others)
            time.sleep(d)
            no_commit_since(run, f, h0, others)
            run.tn.signal(a, signal.SIGCONT)
            run.tn.signal(b, signal.SIGCONT)
            run.healed(f)
            after_heal(run, f, nodes=[a, b])
        time.sleep(2)
        return run.check()


def group_net(args):
    with Run(args.bin, "net", args.base, seed=args.seed, rate=args.rate, keep=args.keep) as run:
        run.start()
        time.sleep(2)
        rounds = 2 if args.long else 1
        net = run.tn.net
        for _ in range(rounds):
            k = args.rng.randrange(4)
            d = dur(args, 5, 5, 40)
            f = run.fault(f"partition node{k} (refuse) {d:.0f} s")
            net.partition([[k], [i for i in range(4) if i != k]], kind="refuse")
            hk = run.tn.height(k)
            time.sleep(d)
            # The fault really cut it off: alone, it cannot commit.
            no_commit_since(run, f, hk, [k], what=f"node{k} alone")
            net.heal()
            run.healed(f)
            after_heal(run, f, nodes=[k])
        for _ in range(rounds):
            nodes = list(range(4))
            args.rng.shuffle(nodes)
            g1, g2 = sorted(nodes[:2]), sorted(nodes[2:])
            d = dur(args, 6, 5, 40)
            f = run.fault(f"split {g1}|{g2} (blackhole) {d:.0f} s")
            net.partition([g1, g2], kind="blackhole")
            h0 = highest(run, range(4))
            time.sleep(d)
            no_commit_since(run, f, h0, range(4))
            net.heal()
            run.healed(f)
            after_heal(run, f, nodes=range(4))
        for _ in range(rounds):
            loss = 0.01 if not args.long else args.rng.choice([0.005, 0.01, 0.02])
            d = dur(args, 6, 10, 40)
            f = run.fault(f"delay 50+-20 ms, loss {loss:g}/chunk {d:.0f} s")
            drops0 = net.dropped()
            net.set(Mode(delay_ms=50, jitter_ms=20, loss=loss))
            time.sleep(d)
            net.heal()
            run.healed(f)
            f.note = f"{net.dropped() - drops0} proxied connections dropped by the loss"
            after_heal(run, f, nodes=range(4))
        time.sleep(2)
        return run.check()


# ---------------------------------------------------------------------------------------------

DISK_FULL_WORDS = ("No space left on device", "disk full", "disk is full")


def group_disk(args):
    if os.geteuid() != 0 or not shutil.which("mount"):
        print("SKIP: disk: mounting a tmpfs needs root and mount(8)")
        return SKIP
    with Run(args.bin, "disk", args.base, seed=args.seed, rate=args.rate, keep=args.keep) as run:
        k = 3
        data = os.path.join(run.tn.home(k), "data")
        saved = data + ".before-tmpfs"
        shutil.move(data, saved)
        os.makedirs(data)
        r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", data],
                           capture_output=True, text=True)
        if r.returncode != 0:
            print(f"SKIP: disk: mount -t tmpfs failed: {r.stderr.strip()}")
            return SKIP
        try:
            for name in os.listdir(saved):
                src = os.path.join(saved, name)
                (shutil.copytree if os.path.isdir(src) else shutil.copy2)(src, os.path.join(data, name))
            run.start()
            time.sleep(2)
            # Leave only a little room, so that the disk fills within seconds under the load.
            filler = os.path.join(data, "filler")
            st = os.statvfs(data)
            free = st.f_bavail * st.f_frsize
            room = (3 if args.long else 1) << 20
            with open(filler, "wb") as out:
                out.write(b"\0" * max(0, free - room))
            f = run.fault(f"node{k}'s disk full ({room >> 20} MiB left)")
            deadline = time.monotonic() + (300 if args.long else 90)
            while run.tn.alive(k) and time.monotonic() < deadline:
                time.sleep(0.2)
            if run.tn.alive(k):
                run.fail(f"node{k} still runs {time.monotonic() - f.start:.0f} s after its disk "
                         f"was nearly full (free now: {os.statvfs(data).f_bavail * os.statvfs(data).f_frsize} B)")
                run.tn.kill(k)
            else:
                code = run.tn.procs[k].returncode
                tail = run.tn.tail(k, 8)
                f.note = f"node{k} exited {code} after {time.monotonic() - f.start:.1f} s: " + \
                    " | ".join(line.strip()[:200] for line in tail.splitlines()[-3:])
                if code < 0:
                    run.fail(f"node{k} died of signal {-code} on a full disk, not a clean stop:\n{tail}")
                if not any(w in tail for w in DISK_FULL_WORDS):
                    run.fail(f"node{k} stopped without saying its disk is full:\n{tail}")
            # The others go on meanwhile.
            time.sleep(2)
            os.unlink(filler)
            run.tn.start(k)
            run.healed(f)
            after_heal(run, f, nodes=[k], bound=120)
            time.sleep(2)
            return run.check()
        finally:
            run.tn.kill(k)
            for _ in range(10):
                r = subprocess.run(["umount", data], capture_output=True, text=True)
                if r.returncode == 0:
                    break
                time.sleep(0.5)
            else:
                print(f"WARNING: umount {data} failed: {r.stderr.strip()}")


# ---------------------------------------------------------------------------------------------

FAKETIME_LIBS = ("/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1",
                 "/usr/lib/aarch64-linux-gnu/faketime/libfaketime.so.1",
                 "/usr/lib/faketime/libfaketime.so.1")


def group_crash(args):
    with Run(args.bin, "crash", args.base, seed=args.seed, rate=args.rate, keep=args.keep) as run:
        run.start()
        time.sleep(2)
        tn = run.tn
        rounds = 5 if args.long else 2
        for r in range(rounds):
            down = args.rng.uniform(0.5, 5) if args.long else 1.0
            f = run.fault(f"kill -9 all four, restart after {down:.1f} s")
            for i in range(4):
                tn.kill(i)
            time.sleep(down)
            for i in range(4):
                tn.start(i)
            run.healed(f)
            after_heal(run, f, nodes=range(4), bound=90)
            time.sleep(args.rng.uniform(1, 6) if args.long else 2)
        lib = next((p for p in FAKETIME_LIBS if os.path.exists(p)), None)
        if lib is None:
            run.notes.append("clock skew NOT tested: libfaketime is not installed "
                             "(Debian package faketime, scripts/install-deps)")
            log("SKIP: clock skew: libfaketime not installed")
        else:
            fast, slow = sorted(args.rng.sample(range(4), 2))
            d = dur(args, 8, 10, 40)
            f = run.fault(f"clocks node{fast} +10 min, node{slow} -10 min {d:.0f} s")
            for i, skew in ((fast, "+10m"), (slow, "-10m")):
                tn.stop(i)
                tn.env[i] = {"LD_PRELOAD": lib, "FAKETIME": skew, "DONT_FAKE_MONOTONIC": "1"}
                tn.start(i)
            time.sleep(d)
            for i in (fast, slow):
                if not tn.alive(i):
                    run.fail(f"node{i} exited with its clock skewed:\n{tn.tail(i)}")
                tn.stop(i)
                tn.env.pop(i)
                tn.start(i)
            run.healed(f)
            after_heal(run, f, nodes=[fast, slow], bound=90)
        time.sleep(2)
        return run.check(final_s=180)


GROUPS = {"stop": group_stop, "net": group_net, "disk": group_disk, "crash": group_crash}
BASES = {"stop": 24000, "net": 24250, "disk": 24500, "crash": 24750}


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("bin")
    p.add_argument("groups", nargs="+", choices=[*GROUPS, "all"])
    p.add_argument("--long", action="store_true")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--base", type=int, default=None, help="Base port (default per group)")
    p.add_argument("--rate", type=int, default=150, help="Registrations per second")
    p.add_argument("--keep", action="store_true", help="Keep the testnet folder and its logs")
    args = p.parse_args()
    groups = list(GROUPS) if "all" in args.groups else args.groups
    results = {}
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # CTest timeout: clean up.
    for g in groups:
        import random
        args.rng = random.Random(args.seed * 100 + list(GROUPS).index(g))
        base = args.base if args.base is not None else BASES[g]
        a = argparse.Namespace(**vars(args))
        a.base = base
        log(f"group {g}: seed {args.seed}{', long' if args.long else ''}, ports {base}..{base + 215}")
        t0 = time.monotonic()
        try:
            rc = GROUPS[g](a)
        except Failure as e:
            print(f"FAIL: {g}: {e}")
            rc = 1
        results[g] = rc
        log(f"group {g}: {'ok' if rc == 0 else 'SKIPPED' if rc == SKIP else 'FAILED'} "
            f"[{time.monotonic() - t0:.0f} s]")
    if any(rc not in (0, SKIP) for rc in results.values()):
        return 1
    if all(rc == SKIP for rc in results.values()):
        return SKIP
    return 0


if __name__ == "__main__":
    sys.exit(main())
