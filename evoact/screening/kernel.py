"""One compiled numba kernel that evaluates a whole batch of candidates (values and derivatives) at once.

Each candidate is the compiler's straight-line op program (``compiler.lower``) encoded as integer
registers; the kernel interprets all of them in parallel over the probe points with forward-mode dual
numbers, so no per-formula compilation is ever needed.
"""

from __future__ import annotations

import math

import numba
import numpy as np

from evoact.compiler import Program
from evoact.formula import DEFAULT_CONSTANT
from evoact.ops import KERNEL_CODES, SINC_SERIES, SINC_TERMS

# The op table's op codes, as globals numba compiles into the branches below.
_ADD, _SUB, _MUL, _DIV, _NEG, _RECIPROCAL = (KERNEL_CODES[n] for n in ("add", "sub", "mul", "div", "neg", "reciprocal"))
_SQUARE, _SQRT, _RSQRT, _POW, _EXP, _LOG = (KERNEL_CODES[n] for n in ("square", "sqrt", "rsqrt", "pow", "exp", "log"))
_SIN, _COS, _TAN, _SINH, _COSH, _TANH = (KERNEL_CODES[n] for n in ("sin", "cos", "tan", "sinh", "cosh", "tanh"))
_ASINH, _ATAN, _ERF, _ERFC, _ABS, _SIGN = (KERNEL_CODES[n] for n in ("asinh", "atan", "erf", "erfc", "abs", "sign"))
_SIGMOID, _SOFTPLUS, _SINC, _HEAVISIDE, _MAXIMUM, _MINIMUM = (
    KERNEL_CODES[n] for n in ("sigmoid", "softplus", "sinc", "heaviside", "maximum", "minimum")
)
_CLAMP_MIN, _CLAMP_MAX, _FULL_LIKE, _BROADCAST, _SINC_SLOPE = (
    KERNEL_CODES[n] for n in ("clamp_min", "clamp_max", "full_like", "broadcast", "sinc_slope")
)
_SINC_SERIES, _SINC_TERMS = SINC_SERIES, np.array(SINC_TERMS)
_TWO_OVER_SQRT_PI = 2.0 / math.sqrt(math.pi)


class Batch:
    """A batch of programs as arrays: register arguments (or -1 and a constant) for each op."""

    def __init__(self, programs: list[Program], params: list[dict[str, float]]) -> None:
        n, width = len(programs), max([len(p.ops) for p in programs] + [1])
        n_params = max([len(p.params) for p in programs] + [1])
        self.op = np.zeros((n, width), np.int64)
        self.areg, self.breg = np.full((n, width), -1, np.int64), np.full((n, width), -1, np.int64)
        self.aconst, self.bconst = np.zeros((n, width)), np.zeros((n, width))
        self.nops, self.out, self.nparams = np.zeros(n, np.int64), np.zeros(n, np.int64), np.zeros(n, np.int64)
        self.params = np.zeros((n, n_params))
        for c, (program, values) in enumerate(zip(programs, params)):
            regs = {"x": 0, **{p: 1 + i for i, p in enumerate(program.params)}}
            base = 1 + len(program.params)
            for k, op in enumerate(program.ops):
                regs[op.target] = base + k
                self.op[c, k] = KERNEL_CODES[op.fn]
                for slot, arg in enumerate(op.args[:2]):
                    reg, const = (self.areg, self.aconst) if slot == 0 else (self.breg, self.bconst)
                    if isinstance(arg, str):
                        reg[c, k] = regs[arg]
                    else:
                        const[c, k] = arg
            self.nops[c], self.out[c], self.nparams[c] = len(program.ops), regs[program.output], len(program.params)
            for i, p in enumerate(program.params):
                self.params[c, i] = values.get(p, DEFAULT_CONSTANT)

    def evaluate(self, xs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Values and derivatives (d/dx) of every program at every point: two (candidates, points) arrays."""
        values = np.empty((len(self.op), len(xs)))
        derivs = np.empty((len(self.op), len(xs)))
        _run(
            self.op,
            self.areg,
            self.aconst,
            self.breg,
            self.bconst,
            self.nops,
            self.out,
            self.nparams,
            self.params,
            np.ascontiguousarray(xs, dtype=np.float64),
            values,
            derivs,
        )
        return values, derivs


@numba.njit(cache=True, inline="always")
def _sigmoid(a: float) -> float:
    if a >= 0:
        return 1.0 / (1.0 + math.exp(-a))
    e = math.exp(a)
    return e / (1.0 + e)


@numba.njit(parallel=True, cache=True)
def _run(op, areg, aconst, breg, bconst, nops, out, nparams, params, xs, values, derivs):  # pragma: no cover - compiled
    n, width = op.shape
    for c in numba.prange(n):
        v = np.zeros(width + 1 + params.shape[1])
        d = np.zeros(width + 1 + params.shape[1])
        base = 1 + nparams[c]
        for p in range(nparams[c]):
            v[1 + p] = params[c, p]
        for j in range(xs.shape[0]):
            v[0] = xs[j]
            d[0] = 1.0
            for k in range(nops[c]):
                a = v[areg[c, k]] if areg[c, k] >= 0 else aconst[c, k]
                da = d[areg[c, k]] if areg[c, k] >= 0 else 0.0
                b = v[breg[c, k]] if breg[c, k] >= 0 else bconst[c, k]
                db = d[breg[c, k]] if breg[c, k] >= 0 else 0.0
                code = op[c, k]
                if code == _ADD:
                    r, dr = a + b, da + db
                elif code == _SUB:
                    r, dr = a - b, da - db
                elif code == _MUL:
                    r, dr = a * b, a * db + b * da
                elif code == _DIV:
                    r = a / b if b != 0.0 else (math.copysign(math.inf, a) if a != 0.0 else math.nan)
                    dr = (da * b - a * db) / (b * b) if b != 0.0 else math.nan
                elif code == _NEG:
                    r, dr = -a, -da
                elif code == _RECIPROCAL:
                    r = 1.0 / a if a != 0.0 else math.inf
                    dr = -da / (a * a) if a != 0.0 else math.nan
                elif code == _SQUARE:
                    r, dr = a * a, 2.0 * a * da
                elif code == _SQRT:
                    r = math.sqrt(a) if a >= 0.0 else math.nan
                    dr = da / (2.0 * r) if r > 0.0 else math.nan
                elif code == _RSQRT:
                    r = 1.0 / math.sqrt(a) if a > 0.0 else math.nan
                    dr = -0.5 * r * r * r * da
                elif code == _POW:
                    if a < 0.0 and b != math.floor(b):
                        r, dr = math.nan, math.nan
                    elif a == 0.0 and b < 0.0:
                        r, dr = math.inf, math.nan
                    else:
                        r = a**b
                        dr = b * a ** (b - 1.0) * da if a != 0.0 or b >= 1.0 else 0.0
                        if db != 0.0:
                            dr += r * math.log(a) * db if a > 0.0 else math.nan
                elif code == _EXP:
                    r = math.exp(a)
                    dr = r * da
                elif code == _LOG:
                    r = math.log(a) if a > 0.0 else (-math.inf if a == 0.0 else math.nan)
                    dr = da / a if a != 0.0 else math.nan
                elif code == _SIN:
                    r, dr = math.sin(a), math.cos(a) * da
                elif code == _COS:
                    r, dr = math.cos(a), -math.sin(a) * da
                elif code == _TAN:
                    r = math.tan(a)
                    dr = (1.0 + r * r) * da
                elif code == _SINH:
                    r, dr = math.sinh(a), math.cosh(a) * da
                elif code == _COSH:
                    r, dr = math.cosh(a), math.sinh(a) * da
                elif code == _TANH:
                    r = math.tanh(a)
                    dr = (1.0 - r * r) * da
                elif code == _ASINH:
                    r, dr = math.asinh(a), da / math.sqrt(1.0 + a * a)
                elif code == _ATAN:
                    r, dr = math.atan(a), da / (1.0 + a * a)
                elif code == _ERF:
                    r, dr = math.erf(a), _TWO_OVER_SQRT_PI * math.exp(-a * a) * da
                elif code == _ERFC:
                    r, dr = math.erfc(a), -_TWO_OVER_SQRT_PI * math.exp(-a * a) * da
                elif code == _ABS:
                    r, dr = abs(a), (da if a > 0.0 else (-da if a < 0.0 else 0.0))
                elif code == _SIGN:
                    r, dr = (1.0 if a > 0.0 else (-1.0 if a < 0.0 else 0.0)), 0.0
                elif code == _SIGMOID:
                    r = _sigmoid(a)
                    dr = r * (1.0 - r) * da
                elif code == _SOFTPLUS:
                    r = a if a > 20.0 else math.log1p(math.exp(a))
                    dr = _sigmoid(a) * da
                elif code == _SINC:
                    if a == 0.0:
                        r, dr = 1.0, 0.0
                    else:
                        r = math.sin(a) / a
                        dr = (math.cos(a) - r) / a * da
                elif code == _SINC_SLOPE:  # the op's series near 0, the quotient elsewhere (ops.SincSlope)
                    if abs(a) < _SINC_SERIES:
                        r, dr, even = 0.0, 0.0, 1.0  # even: a**(2k) for the term c_k * a**(2k+1)
                        for term in range(_SINC_TERMS.shape[0]):
                            r += _SINC_TERMS[term] * even * a
                            dr += _SINC_TERMS[term] * (2 * term + 1) * even
                            even *= a * a
                        dr *= da
                    else:
                        r = (math.cos(a) - math.sin(a) / a) / a
                        dr = (-math.sin(a) / a - 2.0 * r / a) * da
                elif code == _HEAVISIDE:
                    r, dr = (1.0 if a > 0.0 else (0.0 if a < 0.0 else 0.5)), 0.0
                elif code == _MAXIMUM:
                    r, dr = (a, da) if a >= b else (b, db)
                elif code == _MINIMUM:
                    r, dr = (a, da) if a <= b else (b, db)
                elif code == _CLAMP_MIN:
                    r, dr = (a, da) if a >= b else (b, 0.0)
                elif code == _CLAMP_MAX:
                    r, dr = (a, da) if a <= b else (b, 0.0)
                elif code == _FULL_LIKE:
                    r, dr = b, 0.0
                elif code == _BROADCAST:
                    r, dr = b, db
                else:  # an op without a branch: its values fail screening, and the op table's test names it
                    r, dr = math.nan, math.nan
                v[base + k] = r
                d[base + k] = dr
            values[c, j] = v[out[c]]
            derivs[c, j] = d[out[c]]
