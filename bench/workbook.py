"""Writing the fulfilment workbook from the database: time and peak memory for a day of
10,000 and 100,000 order lines. One child process builds the day in a SQLite database; a
second runs the real export (models.spreadsheet.export_delivery_date) and reports its time and
peak memory: its own peak plus that of the worker process that writes large days (a sum, so
never an underestimate). Peaks are each process's VmHWM: getrusage's ru_maxrss on Linux
carries a parent's peak over fork and exec, so it reported the bench process's own size
(pipelines and all) as the export's."""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

from bench.figures import Figure

BUILD = r"""
import asyncio, sqlite3, sys
from models.db import close_database, open_database
lines, db = int(sys.argv[1]), sys.argv[2]
async def schema():
    await open_database("sqlite://" + db)
    await close_database()
asyncio.run(schema())
con = sqlite3.connect(db)
t = "2026-12-01 01:00:00+00:00"
con.executemany("INSERT INTO community (id, room, name, delivery_slot, config_slot, active) VALUES (?,?,?,?,?,1)",
                [(c, f"{c}@chatroom", f"小区{c}", "16:00-18:00", "16:00-18:00") for c in range(1, 21)])
members = lines // 2
con.executemany("INSERT INTO member (id, name, points, first_seen, last_seen, home_id) VALUES (?,?,0,?,?,?)",
                [(f"wxid_{m}", f"住户{m}", t, t, m % 20 + 1) for m in range(members)])
con.executemany("INSERT INTO member_contact (member_id, community_id, address, phone, updated_at) VALUES (?,?,?,?,?)",
                [(f"wxid_{m}", m % 20 + 1, f"{m % 30 + 1}栋{m % 7 + 1}单元{m % 900 + 101}", "", t) for m in range(members)])
con.executemany("INSERT INTO orders (id, member_id, community_id, delivery_date, status, created_at, updated_at) VALUES (?,?,?,?,'placed',?,?)",
                [(m + 1, f"wxid_{m}", m % 20 + 1, "2026-12-02", t, t) for m in range(members)])
products = [("V01", "西红柿", "斤", "4.5"), ("V02", "土豆", "斤", "2.8"), ("M01", "黑猪五花肉", "斤", "32"), ("F01", "丹东草莓", "盒", "39.9")]
con.executemany("INSERT INTO order_line (order_id, sku, name, unit, price, qty, note, status, updated_at) VALUES (?,?,?,?,?,?,'','placed',?)",
                [(i // 2 + 1, *products[(i % 2) + 2 * (i // 2 % 2)], str(i % 5 + 1), t) for i in range(lines)])
con.commit()
"""

EXPORT = r"""
import asyncio, json, sys, time
from datetime import date
from pathlib import Path
from zoneinfo import ZoneInfo
from models import xlsx
from models.db import close_database, open_database
from models.spreadsheet import export_delivery_date
db, target = sys.argv[1], Path(sys.argv[2])
workers = []
save = xlsx.ProcessWriter.save
async def saved(writer):
    await save(writer)
    workers.append(writer.worker_peak_mb)
xlsx.ProcessWriter.save = saved
async def main():
    await open_database("sqlite://" + db)
    try:
        started = time.perf_counter()
        await export_delivery_date(target, date(2026, 12, 2), ZoneInfo("Asia/Shanghai"), ["V01", "V02", "M01", "F01"])
        return time.perf_counter() - started
    finally:
        await close_database()
seconds = asyncio.run(main())
own, worker = xlsx.peak_mb(), max(workers, default=0.0)
print(json.dumps({"seconds": seconds, "peak_mb": own + worker, "own_mb": own, "worker_mb": worker}))
"""


def measure(lines: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as folder:
        db = str(Path(folder) / "day.sqlite3")
        subprocess.run([sys.executable, "-c", BUILD, str(lines), db], check=True, timeout=600,
                       capture_output=True)
        out = subprocess.run([sys.executable, "-c", EXPORT, db, str(Path(folder) / "day.xlsx")],
                             capture_output=True, text=True, check=True, timeout=600)
    return json.loads(out.stdout)


def run(quick: bool) -> list[Figure]:
    figures = []
    for lines in ((10_000,) if quick else (10_000, 100_000)):
        result = measure(lines)
        label = f"{lines // 1000}k"
        figures.append(Figure(f"xlsx_{label}_s", round(result["seconds"], 2), "s",
                              "<= 15" if lines == 100_000 else "reported"))
        figures.append(Figure(f"xlsx_{label}_peak_mb", round(result["peak_mb"], 1), "MB",
                              "<= 100" if lines == 100_000 else "reported"))
    return figures
