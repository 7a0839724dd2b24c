#!/usr/bin/env python3
"""Writes rigged_crowd.usda: 1,000 references to usd-wg's RiggedFigure.usdz (one skinned mesh
of 370 points, 30 frames of joint animation) in a 40 x 25 grid, each with its own layer offset
so the crowd does not move in step. For measuring skinning throughput (issue 14).

Usage: python3 benches/scenes/make_rigged_crowd.py > benches/scenes/rigged_crowd.usda
"""

COLUMNS, ROWS, SPACING = 40, 25, 0.8
FIGURE = "../../../shared/corpus/usd-wg/test_assets/USDZ/RiggedFigure/RiggedFigure.usdz"

print("""#usda 1.0
(
    doc = "1,000 RiggedFigure references with offset animation (benches/scenes/make_rigged_crowd.py)."
    defaultPrim = "Crowd"
    startTimeCode = 0
    endTimeCode = 59
    framesPerSecond = 24
    timeCodesPerSecond = 24
    metersPerUnit = 1
    upAxis = "Y"
)

def Xform "Crowd"
{""")
for i in range(COLUMNS * ROWS):
    x, z = (i % COLUMNS - COLUMNS / 2) * SPACING, (i // COLUMNS - ROWS / 2) * SPACING
    offset = (i * 7) % 30
    print(f"""    def Xform "F{i:04d}" (
        prepend references = @{FIGURE}@ (offset = {offset})
    )
    {{
        double3 xformOp:translate = ({x:.2f}, 0, {z:.2f})
        uniform token[] xformOpOrder = ["xformOp:translate"]
    }}""")
print("}")
