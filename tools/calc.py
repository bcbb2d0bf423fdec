"""Safe arithmetic for the model: a forgiving normaliser and an `ast` whitelist evaluator."""

from __future__ import annotations

import ast
import math
import operator
import re
from decimal import Decimal
from typing import Callable

from tools.registry import ToolInputError, tool

MAX_EXPRESSION_CHARS = 200
MAX_BITS = 1024  # about 1.8e308, the float ceiling: anything larger is refused
HINT = "use numbers, + - * / // % ** ( ) and sqrt, abs, round, floor, ceil, log, log10, exp, sin, cos, tan, min, max, pi, e"

FUNCTIONS: dict[str, Callable[..., float]] = {
    "sqrt": math.sqrt, "abs": abs, "round": round, "floor": math.floor, "ceil": math.ceil,
    "log": math.log, "log10": math.log10, "exp": math.exp, "sin": math.sin, "cos": math.cos,
    "tan": math.tan, "min": min, "max": max,
}
CONSTANTS = {"pi": math.pi, "e": math.e}
BINARY: dict[type, Callable[[float, float], float]] = {
    ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv, ast.Mod: operator.mod, ast.Pow: operator.pow,
}
UNARY: dict[type, Callable[[float], float]] = {ast.UAdd: operator.pos, ast.USub: operator.neg}

_NUMBER = r"\d+(?:\.\d+)?"
_FUNCTION_NAMES = "|".join(sorted(FUNCTIONS, key=len, reverse=True))
_REWRITES: list[tuple[str, str]] = [
    (r"^(?:please\s+)?(?:what\s+is|what's|whats|how\s+much\s+is|calculate|compute|evaluate|calc|solve)\b", ""),
    (r"\bthe\b", ""),
    (r"[$€£¥](?=\s*[\d.(])|(?<=\d)\s*[$€£¥]", ""),  # money is arithmetic too: "4 * $3.75", "10€ / 4"
    (r"[×·∗✕]", "*"), (r"÷", "/"), (r"[−–]", "-"), (r"\^", "**"), (r"²", "**2"), (r"³", "**3"),
    (rf"({_NUMBER})\s*(?:%|percent)\s*of\b", "<pct \\1>*"),
    (rf"({_NUMBER})\s*(?:%|percent)(?=\s*(?:$|[)+\-*/]))", "<pct \\1>"),
    (r"\bmultiplied\s+by\b|\btimes\b", "*"), (r"(?<=[\d)])\s*x\s*(?=[\d(.]|pi\b|e\b)", " * "),
    (r"\bdivided\s+by\b|\bover\b", "/"), (r"\bplus\b|\badded\s+to\b", "+"), (r"\bminus\b", "-"),
    (r"\bmod(?:ulo)?\b", "%"), (r"\bnegative\b", "-"),
    (r"\braised\s+to(?:\s+power\s+of)?\b|\bto\s+power(?:\s+of)?\b", "**"),
    (r"\bsquared\b", "**2"), (r"\bcubed\b", "**3"),
    (rf"\bcube\s+root\s+of\s*({_NUMBER})", "\\1**(1/3)"),
    (r"\bsquare\s+root\b|√", "sqrt "), (r"\bln\b", "log"),
    (rf"\b({_FUNCTION_NAMES})\s+of\b", "\\1"),
    (rf"\b({_FUNCTION_NAMES})\b\s*({_NUMBER}|pi\b|e\b)", "\\1(\\2)"),
    (rf"(?<![\w.])({_NUMBER})\s*(?=\()|(?<=\))\s*(?=\()", "\\1*"),
]


def _percent(match: re.Match[str]) -> str:
    return str(Decimal(match.group(1)) / 100)


def normalise(text: str) -> str:
    """Rewrite words and symbols people use for arithmetic into Python operator syntax."""
    text = text.lower().lstrip("=?! ").rstrip("=?!. ")
    if not re.search(r"\b(?:min|max|round|log)\s*\(", text):  # there, commas separate arguments
        text = re.sub(r"(?<=\d),(?=\d{3}(?!\d))", "", text)
    for pattern, replacement in _REWRITES:
        text = re.sub(pattern, replacement, text)
    text = re.sub(rf"<pct ({_NUMBER})>", _percent, text)
    return " ".join(text.split()).lstrip("=?! ").rstrip("=?!. ")


def _check(value: float) -> float:
    if isinstance(value, int) and value.bit_length() > MAX_BITS:
        raise ToolInputError("the result is too large to compute")
    if isinstance(value, float) and not math.isfinite(value):
        raise ToolInputError("the result is too large to compute")
    return value


def _power(base: float, exponent: float) -> float:
    if abs(base) > 1 and exponent > 0 and exponent * math.log2(abs(base)) > MAX_BITS:
        raise ToolInputError("the result is too large to compute")
    result = base**exponent
    if isinstance(result, complex):
        raise ToolInputError("a negative number to a fractional power has no real result")
    return result


def _call(name: str, args: list[float]) -> float:
    if name == "round" and len(args) == 2 and abs(args[1]) > 15:
        raise ToolInputError("round takes at most 15 digits")
    try:
        return FUNCTIONS[name](*args)
    except TypeError:
        raise ToolInputError(f"{name} got the wrong number of arguments") from None
    except ValueError:
        shown = ", ".join(format_number(arg) for arg in args)
        raise ToolInputError(f"{name}({shown}) is not defined") from None


def _evaluate(node: ast.AST) -> float:
    if isinstance(node, ast.Expression):
        return _evaluate(node.body)
    if isinstance(node, ast.Constant) and type(node.value) in (int, float):
        return _check(node.value)
    if isinstance(node, ast.Name) and node.id in CONSTANTS:
        return CONSTANTS[node.id]
    if isinstance(node, ast.UnaryOp) and type(node.op) in UNARY:
        return UNARY[type(node.op)](_evaluate(node.operand))
    if isinstance(node, ast.BinOp) and type(node.op) in BINARY:
        left, right = _evaluate(node.left), _evaluate(node.right)
        if isinstance(node.op, ast.Pow):
            return _check(_power(left, right))
        if isinstance(node.op, (ast.Div, ast.FloorDiv, ast.Mod)) and right == 0:
            raise ToolInputError("division by zero is undefined")
        return _check(BINARY[type(node.op)](left, right))
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and not node.keywords:
        if node.func.id not in FUNCTIONS:
            raise ToolInputError(f"unknown function {node.func.id[:20]}; {HINT}")
        return _check(_call(node.func.id, [_evaluate(arg) for arg in node.args]))
    if isinstance(node, ast.Name):
        raise ToolInputError(f"unknown name {node.id[:20]}; {HINT}")
    raise ToolInputError(f"only arithmetic is allowed; {HINT}")


def format_number(value: float) -> str:
    """Integers without '.0', everything else to at most 10 significant digits."""
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        value = int(value)
    if isinstance(value, int):
        return str(value) if abs(value) < 10**30 else f"{value:.10g}"
    text = f"{value:.10g}"
    return "0" if text == "-0" else text


@tool
def calc(expression: str) -> str:
    """Calculate an arithmetic expression exactly; use it for any sum instead of guessing.

    Args:
        expression: the arithmetic to do, in symbols or words, e.g. 17 * 23, 15% of 80, square root of 144

    Example:
        17 * 23
    """
    if len(expression) > MAX_EXPRESSION_CHARS:
        raise ToolInputError(f"expression is too long; keep it under {MAX_EXPRESSION_CHARS} characters")
    text = normalise(expression)
    if not text:
        raise ToolInputError("no expression given; write one like 17 * 23")
    try:
        tree = ast.parse(text, mode="eval")
    except (SyntaxError, ValueError, MemoryError, RecursionError):
        raise ToolInputError(f"cannot read {expression[:40]!r} as arithmetic; {HINT}") from None
    try:
        value = _evaluate(tree)
    except ZeroDivisionError:
        raise ToolInputError("division by zero is undefined") from None
    except (OverflowError, RecursionError):
        raise ToolInputError("the result is too large to compute") from None
    return f"{ast.unparse(tree)} = {format_number(value)}"
