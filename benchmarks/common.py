"""What every benchmark records beside its numbers: the machine, the commit and the date."""
import datetime
import json
import os
import platform
import subprocess

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RESULTS = os.path.join(ROOT, "benchmarks", "results")


def machine():
    info = {"platform": platform.platform(), "python": platform.python_version(), "cpu_count": os.cpu_count()}
    try:
        lscpu = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
        for line in lscpu.splitlines():
            key, _, value = line.partition(":")
            if key.strip() in ("Model name", "CPU(s)", "L2 cache", "L3 cache", "Flags"):
                info[key.strip()] = value.strip() if key.strip() != "Flags" else \
                    " ".join(f for f in value.split() if f.startswith(("avx", "amx", "fma")))
    except OSError:
        pass
    try:
        import convnet

        if convnet.cuda.is_available():
            info["gpu"] = convnet.cuda.get_device_name(0)
            driver = subprocess.run(["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
                                    capture_output=True, text=True)
            info["driver"] = driver.stdout.strip() or None
    except Exception as e:  # the record says why the GPU fields are missing
        info["gpu_error"] = str(e)
    return info


def commit():
    try:
        out = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
        dirty = subprocess.run(["git", "-C", ROOT, "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True).stdout.strip()
        return out.stdout.strip() + ("-dirty" if dirty else "")
    except OSError:
        return None


def record(name, payload, out=None):
    """Writes payload + machine/commit/date as JSON to `out` (or benchmarks/results/NAME-DATE.json)."""
    now = datetime.datetime.now(datetime.timezone.utc)
    payload = dict(payload, machine=machine(), commit=commit(), date=now.isoformat(timespec="seconds"))
    if out is None:
        os.makedirs(RESULTS, exist_ok=True)
        out = os.path.join(RESULTS, f"{name}-{now.strftime('%Y%m%d-%H%M%S')}.json")
    with open(out, "w") as f:
        json.dump(payload, f, indent=2)
    print(f"recorded {out}")
    return out
