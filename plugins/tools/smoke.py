#!/usr/bin/env python3
"""Runs the built plugins in Wasmtime 48 (through the wasmtime Python package) with a stand-in host.

A guest-side check that needs neither vprog nor a Rust host:
    python3 -m pip install wasmtime==48.0.0
    python3 plugins/tools/smoke.py [target/plugins]

The stand-in host links WASI 0.2 (nothing granted, stdout/stderr inherited) and a `frame` resource over
three 32x24 synthetic frames: all red, all blue, and alternating red/white pixels. It limits memory to
256 MiB and fuel to 2e9 units, and prints one line per case and a closing 'N passed, M failed'.
"""

import sys

from wasmtime import Config, Engine, Store, WasiConfig
from wasmtime.component import Component, Linker, Record, ResourceHost, ResourceType, Variant

FRAME_TYPE = 7
FUEL = 2_000_000_000
FRAMES = {
    1: (32, 24, lambda i: (200, 30, 30)),
    2: (32, 24, lambda i: (20, 40, 220)),
    3: (32, 24, lambda i: (250, 10, 10) if i % 2 else (240, 240, 240)),
}


def pixels(w, h, fill):
    out = bytearray(w * h * 3)
    for i in range(w * h):
        out[3 * i : 3 * i + 3] = bytes(fill(i))
    return bytes(out)


class Host:
    def __init__(self):
        config = Config()
        config.consume_fuel = True
        self.engine = Engine(config)
        self.store = None

    def linker(self):
        linker = Linker(self.engine)
        linker.add_wasip2()
        frame_type = ResourceType.host(FRAME_TYPE)
        rep = lambda this: this.to_host(self.store).rep

        def thumbnail(_, this, max_side):
            w, h, fill = FRAMES[rep(this)]
            scale = min(1, max_side / max(w, h))
            tw, th = max(1, round(w * scale)), max(1, round(h * scale))
            return (tw, th, pixels(tw, th, fill))

        with linker.root() as root:
            with root.add_instance("vprog:plugin/frames@0.1.0") as frames:
                frames.add_resource("frame", frame_type, lambda _store, _rep: None)
                frames.add_func("[method]frame.time", lambda _, this: float(rep(this)))
                frames.add_func("[method]frame.width", lambda _, this: FRAMES[rep(this)][0])
                frames.add_func("[method]frame.height", lambda _, this: FRAMES[rep(this)][1])
                frames.add_func("[method]frame.pixels", lambda _, this: pixels(*FRAMES[rep(this)]))
                frames.add_func("[method]frame.crop", lambda _, this, x, y, w, h: b"")
                frames.add_func("[method]frame.thumbnail", thumbnail)
            root.add_instance("vprog:plugin/types@0.1.0").close()
        return linker

    def run(self, path, extra_args=()):
        """('compile'|'instantiate'|'trap', message) or ('ok'|'err', signature, value)."""
        self.store = store = Store(self.engine)
        wasi = WasiConfig()
        wasi.inherit_stdout()
        wasi.inherit_stderr()
        store.set_wasi(wasi)
        store.set_fuel(FUEL)
        store.set_limits(memory_size=256 << 20)
        try:
            component = Component.from_file(self.engine, path)
        except Exception as e:
            return ("compile", str(e))
        try:
            instance = self.linker().instantiate(store, component)
        except Exception as e:
            return ("instantiate", str(e))
        module = instance.get_export_index(store, "vprog:plugin/module@0.1.0")
        describe = instance.get_func(store, instance.get_export_index(store, "describe", module))
        call = instance.get_func(store, instance.get_export_index(store, "call", module))
        signature = describe(store)
        describe.post_return(store)

        def arg(name, value):
            r = Record()
            r.name, r.value = name, value
            return r

        # Owned handles lowered into `borrow` positions: the Python API cannot make host borrows outside
        # a call; for the guest they are borrows all the same.
        handles = [ResourceHost.own(k, FRAME_TYPE).to_any(store) for k in FRAMES]
        args = [arg("frames", Variant("frames", handles))] + [arg(n, v) for n, v in extra_args]
        try:
            out = call(store, args)
            call.post_return(store)
        except Exception as e:
            return ("trap", str(e))
        return ("ok" if isinstance(out, Variant) else "err", signature, out)


def expect_ok(tag, payload=None, check=None):
    def f(r):
        if r[0] != "ok" or r[2].tag != tag:
            return False
        return check(r[2].payload) if check else (payload is None or r[2].payload == payload)

    return f


def expect(kind, needle):
    return lambda r: r[0] == kind and needle in str(r[-1])


CASES = [
    ("redness", (), expect_ok("numbers", [1.0, 0.0, 0.5])),
    ("redness", (("ratio", Variant("number", 3.0)), ("min_red", Variant("int", 245))), expect_ok("numbers", [0.0, 0.0, 0.5])),
    ("redness", (("ratio", Variant("number", -1.0)),), expect("err", "ratio")),
    ("dominant_colour", (), expect_ok("texts", ["red", "blue", "white"])),
    ("hostile_loop", (), expect("trap", "fuel")),
    ("hostile_memory", (), lambda r: r[0] == "trap" or (r[0] == "err" and "after 25" in r[2])),
    ("hostile_recursion", (), expect("trap", "call stack exhausted")),
    ("hostile_trap", (), expect("trap", "unreachable")),
    ("hostile_wrong_type", (), lambda r: r[0] == "ok" and r[1].returns.kind == "number" and r[2].tag == "text"),
    ("hostile_oversized", (), expect_ok("text", check=lambda s: len(s) == 64 << 20)),
    ("hostile_file", (), expect("err", "open /etc/passwd")),
    ("hostile_stdout", (), expect_ok("number", 42.0)),
    ("hostile_unknown_import", (), expect("instantiate", "evil:net/socket@1.0.0")),
    ("hostile_old_version", (), expect("instantiate", "vprog:plugin/frames@0.2.0")),
    ("hostile_core_module", (), expect("compile", "")),
    ("corrupt", (), expect("compile", "")),
]


def summary(r):
    if r[0] in ("ok", "err"):
        v = r[2]
        if isinstance(v, Variant):
            p = v.payload
            v = f"{v.tag}({'<%d chars>' % len(p) if isinstance(p, str) and len(p) > 100 else repr(p)})"
        return f"{r[0]}: {v}"
    return f"{r[0]}: {str(r[1]).strip().splitlines()[-1][:160]}"


def main():
    out_dir = sys.argv[1] if len(sys.argv) > 1 else "target/plugins"
    host = Host()
    passed = failed = 0
    for name, extra, check in CASES:
        result = host.run(f"{out_dir}/{name}.wasm", extra)
        good = check(result)
        passed += good
        failed += not good
        print(f"{'ok  ' if good else 'FAIL'} {name:24} {summary(result)}", flush=True)
    print(f"{passed} passed, {failed} failed")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
