"""@roc.expose: which methods of a Python object are callable remotely."""
import inspect

__all__ = ["expose", "exposed_methods", "is_exposed", "MethodInfo"]


class MethodInfo:
    """What the daemon knows of one exposed method (shown by describe)."""

    __slots__ = ("name", "attr", "nargs", "params", "result", "flags")

    def __init__(self, name, attr, nargs, params, result, flags):
        self.name, self.attr, self.nargs = name, attr, nargs
        self.params, self.result, self.flags = params, result, tuple(flags)

    def describe(self):
        return {"name": self.name, "params": self.params, "result": self.result,
                "nargs": self.nargs, "flags": list(self.flags)}


def _typename(ann):
    if ann is inspect.Parameter.empty:
        return None
    if isinstance(ann, str):
        return ann
    names = {int: "i64", float: "f64", str: "string", bytes: "bytes",
             bool: "bool", list: "list<any>", dict: "map<any, any>",
             type(None): "void", None: "void"}
    if ann in names:
        return names[ann]
    return getattr(ann, "__name__", str(ann))


def _signature(func):
    """(nargs, params text, result text) of a function, self excluded."""
    try:
        sig = inspect.signature(func)
    except (TypeError, ValueError):
        return -1, None, None
    ps = list(sig.parameters.values())
    if ps and ps[0].name in ("self", "cls") and not isinstance(func, staticmethod):
        ps = ps[1:]
    nargs = 0
    texts = []
    for p in ps:
        if p.kind == p.VAR_POSITIONAL:
            nargs = -1
            texts.append("any... " + p.name)
            continue
        if p.kind in (p.KEYWORD_ONLY, p.VAR_KEYWORD):
            continue
        if p.default is not p.empty:
            nargs = -1  # optional parameters: any count the function accepts
        elif nargs >= 0:
            nargs += 1
        t = _typename(p.annotation)
        texts.append("%s %s" % (t or "any", p.name))
    res = _typename(sig.return_annotation)
    return nargs, ", ".join(texts), res or "any"


def expose(obj=None, *, name=None, oneway=False, idempotent=False,
           blocking=False, params=None, result=None):
    """Marks a method (or every public method of a class) as callable
    remotely, like Pyro's @expose. Usable bare or with options::

        class Greeter:
            @roc.expose
            def hello(self, name: str) -> str: ...

            @roc.expose(name="bye", idempotent=True)
            def goodbye(self): ...

    ``name`` renames the method on the wire; ``oneway``, ``idempotent`` and
    ``blocking`` are flags shown by describe (every call of a Python daemon
    runs on its worker pool); ``params``/``result`` replace the texts that
    describe derives from the signature and its annotations.
    """
    def mark(o):
        if inspect.isclass(o):
            for attr, v in list(vars(o).items()):
                if attr.startswith("_") or not callable(v) or hasattr(v, "_roc_expose"):
                    continue
                setattr(o, attr, expose(v))
            o._roc_class_exposed = True
            return o
        flags = [f for f, on in (("oneway", oneway), ("idempotent", idempotent),
                                 ("blocking", blocking)) if on]
        target = o.__func__ if isinstance(o, (staticmethod, classmethod)) else o
        target._roc_expose = {"name": name, "flags": flags, "params": params,
                              "result": result}
        return o
    if obj is None:
        return mark
    return mark(obj)


_cache = {}


def exposed_methods(cls):
    """{wire name: MethodInfo} for a class (cached)."""
    m = _cache.get(cls)
    if m is not None:
        return m
    m = {}
    for klass in reversed(cls.__mro__):
        for attr, v in vars(klass).items():
            f = v.__func__ if isinstance(v, (staticmethod, classmethod)) else v
            info = getattr(f, "_roc_expose", None)
            if info is None:
                continue
            nargs, params, result = _signature(f)
            if isinstance(v, staticmethod):
                nargs, params, result = _signature_static(f)
            wire = info["name"] or attr
            m[wire] = MethodInfo(wire, attr, nargs,
                                 info["params"] if info["params"] is not None else params,
                                 info["result"] if info["result"] is not None else result,
                                 info["flags"])
    _cache[cls] = m
    return m


def _signature_static(f):
    try:
        sig = inspect.signature(f)
    except (TypeError, ValueError):
        return -1, None, None

    def g(self, *a):
        pass
    g.__signature__ = sig.replace(parameters=[inspect.Parameter(
        "self", inspect.Parameter.POSITIONAL_ONLY)] + list(sig.parameters.values()))
    return _signature(g)


def is_exposed(obj):
    """True when obj is an instance (or class) with exposed methods."""
    cls = obj if inspect.isclass(obj) else type(obj)
    if cls.__module__ == "builtins":
        return False
    return bool(exposed_methods(cls))
