"""Which mobile delegates accept a .tflite decoder, by the rules measured in DEPLOYMENT.md.

Only the rules that table states are checked (TRANSPOSE_CONV versions, ABS, SQRT/RSQRT, DIV, and the
delegate's integer support); an operator the table does not name is reported as not checked, not as
accepted.
"""
from __future__ import annotations

CHECKED = ("TRANSPOSE_CONV", "ABS", "SQRT", "RSQRT", "DIV")

# delegate -> (ops rejected outright, ops accepted in float only, ops accepted in int8 only,
#              highest TRANSPOSE_CONV version, what happens to int8 models, what happens to float ones)
RULES: dict[str, dict] = {
    "GPU": {"rejected": (), "float_only": (), "int8_only": (), "transpose_conv_max": 3,
            "int8": "runs as float", "float": "yes"},
    "NNAPI": {"rejected": (), "float_only": ("ABS", "SQRT", "RSQRT", "DIV"), "int8_only": (),
              "transpose_conv_max": 3, "int8": "yes", "float": "yes"},
    "Hexagon": {"rejected": ("ABS", "SQRT", "DIV"), "float_only": (), "int8_only": ("RSQRT",),
                "transpose_conv_max": 3, "int8": "yes", "float": "no (int8/uint8 models only)"},
}


def check(operators: list[tuple[str, int]], integer: bool) -> dict[str, dict]:
    """Per delegate: the model's checked ops it would leave on the CPU, and whether it takes the model."""
    report = {}
    for delegate, rule in RULES.items():
        falls_back = []
        for name, version in operators:
            if name in rule["rejected"]:
                falls_back.append(name)
            elif name in rule["float_only"] and integer:
                falls_back.append(f"{name} (float only)")
            elif name in rule["int8_only"] and not integer:
                falls_back.append(f"{name} (int8 only)")
            elif name == "TRANSPOSE_CONV" and version > rule["transpose_conv_max"]:
                falls_back.append(f"TRANSPOSE_CONV v{version}")
        model_kind = rule["int8"] if integer else rule["float"]
        report[delegate] = {
            "model": model_kind,
            "falls_back_to_cpu": falls_back,
            "not_checked": sorted({name for name, _ in operators} - set(CHECKED)),
        }
    return report

