"""Writing the fulfilment workbook: time and peak memory for a day of 10,000 and 100,000 order
lines. Each size runs in a child process, so the peak is the writer's own."""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

from bench.figures import Figure

CHILD = r"""
import json, resource, sys, time
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from models.spreadsheet import Row, write_workbook

lines, target = int(sys.argv[1]), Path(sys.argv[2])
products = [("V01", "西红柿", "斤", Decimal("4.5")), ("V02", "土豆", "斤", Decimal("2.8")),
            ("M01", "黑猪五花肉", "斤", Decimal("32")), ("F01", "丹东草莓", "盒", Decimal("39.9"))]
def rows():
    for i in range(lines):
        sku, name, unit, price = products[i % 4]
        qty = Decimal(i % 5 + 1)
        yield Row(order_id=i // 2, ordered_at=datetime(2026, 12, 1, 9, i % 60), community=f"小区{i % 20}",
                  room=f"{i % 20}@chatroom", member=f"住户{i // 2}", member_id=f"wxid_{i // 2}", sku=sku,
                  product=name, qty=qty, unit=unit, price=price, amount=price * qty,
                  address=f"{i % 30 + 1}栋{i % 7 + 1}单元{i % 900 + 101}", delivery_date=date(2026, 12, 2),
                  slot="16:00-18:00", status="已下单", note="", phone="")
all_rows = list(rows())
started = time.perf_counter()
write_workbook(target, all_rows, [p[0] for p in products])
elapsed = time.perf_counter() - started
peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"seconds": elapsed, "peak_mb": peak_mb}))
"""


def measure(lines: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as folder:
        out = subprocess.run([sys.executable, "-c", CHILD, str(lines), str(Path(folder) / "day.xlsx")],
                             capture_output=True, text=True, check=True, timeout=600)
    return json.loads(out.stdout)


def run(quick: bool) -> list[Figure]:
    figures = []
    for lines in ((10_000,) if quick else (10_000, 100_000)):
        result = measure(lines)
        label = f"{lines // 1000}k"
        seconds_target = "<= 15" if lines == 100_000 else "reported"
        figures.append(Figure(f"xlsx_{label}_s", round(result["seconds"], 2), "s", seconds_target))
        figures.append(Figure(f"xlsx_{label}_peak_mb", round(result["peak_mb"], 1), "MB",
                              "<= 100" if lines == 100_000 else "reported"))
    return figures
