"""The fulfilment workbook: every sheet against the orders, safe text, atomic and patient
writes, and staff edits coming back."""

from __future__ import annotations

import datetime as dt
import gc
import subprocess
import sys
from pathlib import Path

import pytest
from openpyxl import Workbook, load_workbook

import models.spreadsheet as spreadsheet
import models.xlsx as xlsx
from models.orders import member_orders
from models.tables import Member, Order, OrderLine, StockDay
from tests.conftest import ROOM_A, ROOM_B, STAFF, Harness
from tests.test_chains import chain

DELIVERY = dt.date(2026, 12, 2)


async def busy_day(h: Harness) -> None:
    """Chains, a modification, a partial and a whole cancellation, a recall, two groups."""
    await h.say("西红柿3斤 10栋1202", sender="u1", name="李阿姨", message_id="a1")
    await h.say("西红柿改成2斤", sender="u1", name="李阿姨", message_id="a2")
    await h.say("草莓2盒 2栋301", sender="u2", name="小周", room=ROOM_B, message_id="b1")
    await h.say("取消一盒草莓", sender="u2", name="小周", room=ROOM_B, message_id="b2")
    await h.say(chain("陈哥 五花肉2斤"), sender="u3", name="陈哥", message_id="c1")
    await h.say(chain("陈哥 五花肉2斤", "阿明 豆腐3块"), sender="u4", name="阿明", message_id="c2")
    await h.say(chain("陈哥 五花肉1斤", "阿明 豆腐3块"), sender="u3", name="陈哥", message_id="c3")
    await h.say("土豆5斤 2栋101", sender="u5", name="=HYPERLINK(\"http://x\")", message_id="d1")
    await h.say("牛奶1箱", sender="u6", name="小吴", message_id="e1")
    await h.say("取消订单", sender="u6", name="小吴", message_id="e2")
    await h.say("白菜2颗", sender="u1", name="李阿姨", message_id="a3")
    await h.bot.recall("a3", h.clock.now())


async def test_every_sheet_matches_the_orders(harness: Harness) -> None:
    await busy_day(harness)
    path = await harness.bot.export(DELIVERY)
    assert path is not None and path.name == "orders-2026-12-02.xlsx"
    book = load_workbook(path)
    assert book.sheetnames == ["订单", "拣货单", "配送单", "储值"]

    sheet = book["订单"]
    header = [c.value for c in sheet[1]]
    for column in spreadsheet.ORDER_COLUMNS:
        assert column in header
    rows = [dict(zip(header, r)) for r in sheet.iter_rows(min_row=2, values_only=True)]
    expected = {(l.sku, o.member_id): l for o in [o for m in ("u1", "u2", "u3", "u4", "u5", "u6")
                                                   for o in await member_orders(m)] for l in o.lines}
    assert {(r["商品编码"], r["成员ID"]): r["数量"] for r in rows} == \
        {key: int(line.qty) for key, line in expected.items()}
    assert {key: "已下单" for key in expected} == {(r["商品编码"], r["成员ID"]): r["状态"] for r in rows}
    tomato = next(r for r in rows if r["商品编码"] == "V01")
    assert tomato["数量"] == 2 and tomato["单价"] == 4.5 and tomato["金额"] == 9
    assert isinstance(tomato["数量"], int) and isinstance(tomato["金额"], int | float)
    assert tomato["配送日期"] == dt.datetime(2026, 12, 2) and isinstance(tomato["下单时间"], dt.datetime)
    assert tomato["小区"] == "阳光花园" and tomato["群"] == ROOM_A and tomato["地址"] == "10栋1202"
    assert tomato["配送时段"] == "16:00-18:00"
    assert not any(r["成员ID"] == "u6" for r in rows)  # a cancelled order is absent
    assert not any(r["商品编码"] == "V03" for r in rows)  # the recalled order is gone

    pick = [r for r in book["拣货单"].iter_rows(min_row=2, values_only=True)]
    assert pick == [("V01", "西红柿", 2, "斤"), ("V02", "土豆", 5, "斤"), ("M01", "黑猪五花肉", 1, "斤"),
                    ("F01", "丹东草莓", 1, "盒"), ("T01", "卤水豆腐", 3, "块")]  # in offer order

    delivery = [r for r in book["配送单"].iter_rows(min_row=2, values_only=True)]
    assert [(r[0], r[2], r[5]) for r in delivery] == [
        ("桂花苑", "2栋301", "丹东草莓"), ("桂花苑 合计", None, None),
        ("阳光花园", "2栋101", "土豆"), ("阳光花园", "10栋1202", "西红柿"),  # 2栋 before 10栋
        ("阳光花园", None, "黑猪五花肉"), ("阳光花园", None, "卤水豆腐"),  # no address: blank, last
        ("阳光花园 合计", None, None)]
    # Per household, on its order's first line: the amount, what was paid, what to collect;
    # each community's total row adds them up (nothing paid before the cut-off).
    header = [c.value for c in book["配送单"][1]]
    at = {name: header.index(name) for name in ("成员", "金额", "备注", "订单金额", "已付", "应收")}
    for community in ("桂花苑", "阳光花园"):
        mine = [r for r in delivery if r[0] == community]
        total = next(r for r in delivery if r[0] == f"{community} 合计")
        households = {r[at["成员"]] for r in mine}
        firsts = [r for r in mine if r[at["订单金额"]] is not None]
        assert total[at["成员"]] == f"{len(households)}户" and total[at["备注"]] == f"{len(firsts)}单"
        assert total[at["金额"]] == pytest.approx(sum(r[at["金额"]] for r in mine))
        assert total[at["订单金额"]] == pytest.approx(sum(r[at["订单金额"]] for r in firsts)) == total[at["金额"]]
        assert all(r[at["已付"]] == 0 and r[at["应收"]] == r[at["订单金额"]] for r in firsts)
        assert total[at["应收"]] == pytest.approx(total[at["订单金额"]] - total[at["已付"]])
    assert sum(1 for r in delivery if r[at["订单金额"]] is not None and not r[0].endswith("合计")) == len(
        {r["订单号"] for r in rows})  # one per order
    printed = book["配送单"]
    assert printed.freeze_panes == "A2" and printed.print_title_rows == "$1:$1"
    assert printed.auto_filter.ref == "A1:N8" and printed.column_dimensions["C"].width == 18


@pytest.mark.parametrize("in_a_worker", [False, True])
async def test_member_text_never_becomes_a_formula(harness: Harness, monkeypatch, in_a_worker: bool) -> None:
    if in_a_worker:  # values are prepared here and written by the worker process
        monkeypatch.setattr(spreadsheet, "PROCESS_LINES", 1)
    names = ["=HYPERLINK(\"http://evil\",\"x\")", "+1", "-2+3", "@SUM(A1)", "好\x07人\x1b"]
    for i, name in enumerate(names):
        await harness.say(f"西红柿1斤 {i + 1}栋", sender=f"n{i}", name=name)
    book = load_workbook(await harness.bot.export(DELIVERY))
    cells = [row[4] for row in book["订单"].iter_rows(min_row=2)]
    assert [c.value for c in cells] == names[:4] + ["好人"]
    assert all(c.data_type == "s" for c in cells)


async def test_a_write_killed_halfway_leaves_the_previous_workbook(harness: Harness, monkeypatch) -> None:
    await harness.say("西红柿1斤")
    path = await harness.bot.export(DELIVERY)
    before = path.read_bytes()
    await harness.say("土豆2斤")

    def dies_halfway(self: Workbook, filename: str) -> None:
        Path(filename).write_bytes(b"PK\x03\x04 half a zip")
        raise KeyboardInterrupt("killed while writing")

    monkeypatch.setattr(Workbook, "save", dies_halfway)
    with pytest.raises(KeyboardInterrupt):
        await harness.bot.export(DELIVERY)
    assert path.read_bytes() == before
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no half-written leftovers
    assert load_workbook(path)["拣货单"]["A2"].value == "V01"


async def test_a_burst_of_orders_makes_one_write(harness: Harness, monkeypatch) -> None:
    writes: list[dt.date] = []
    real = spreadsheet.export_delivery_date

    async def counted(path: Path, delivery_date: dt.date, *args: object) -> Path:
        writes.append(delivery_date)
        return await real(path, delivery_date, *args)

    monkeypatch.setattr("bot.exporter.export_delivery_date", counted)
    for i in range(30):
        await harness.say("西红柿1斤", sender=f"m{i}")
    await harness.advance_to(harness.clock.now() + dt.timedelta(seconds=10))
    assert writes == [DELIVERY]
    book = load_workbook(harness.bot.exporter.path(DELIVERY))
    assert book["拣货单"]["C2"].value == 30


async def test_a_slow_workbook_is_rewritten_at_most_a_quarter_of_the_time(harness: Harness, monkeypatch) -> None:
    """A busy day's workbook takes longer to write as the day grows: the next debounced write
    waits three times the last one's wall time, so writing never takes the bot over; a
    cut-off or /导出 still writes at once."""
    writes: list[dt.datetime] = []
    real = spreadsheet.export_delivery_date
    wall = iter(range(0, 10_000, 4))  # each write takes 4 s of wall time

    async def counted(path: Path, delivery_date: dt.date, *args: object) -> Path:
        writes.append(harness.clock.now())
        return await real(path, delivery_date, *args)

    monkeypatch.setattr("bot.exporter.export_delivery_date", counted)
    monkeypatch.setattr("bot.exporter.time.perf_counter", lambda: float(next(wall)))
    await harness.say("西红柿1斤", sender="m1")
    await harness.advance_to(harness.clock.now() + dt.timedelta(seconds=5))
    assert len(writes) == 1
    first = writes[0]
    await harness.say("西红柿1斤", sender="m2")
    await harness.advance_to(first + dt.timedelta(seconds=11))
    assert len(writes) == 1  # debounced at +5 s, but resting until +12 s
    await harness.advance_to(first + dt.timedelta(seconds=12))
    assert len(writes) == 2 and writes[1] == first + dt.timedelta(seconds=12)
    assert load_workbook(harness.bot.exporter.path(DELIVERY))["拣货单"]["C2"].value == 2
    await harness.say("西红柿1斤", sender="m3")
    assert await harness.bot.export(DELIVERY) is not None  # /导出: at once
    assert len(writes) == 3 and writes[2] == harness.clock.now()
    assert load_workbook(harness.bot.exporter.path(DELIVERY))["拣货单"]["C2"].value == 3


async def test_a_locked_workbook_is_retried_and_staff_are_told_once(harness: Harness, monkeypatch) -> None:
    real_replace = xlsx.os.replace
    failures = iter([PermissionError("locked by EXCEL.EXE")] * 3)

    def locked_replace(source: str, target: str) -> None:
        error = next(failures, None)
        if error is not None:
            raise error
        real_replace(source, target)

    monkeypatch.setattr(xlsx.os, "replace", locked_replace)
    await harness.say("西红柿1斤")
    await harness.advance_to(harness.clock.now() + dt.timedelta(minutes=10))
    staff = harness.texts(to=STAFF)
    assert len([t for t in staff if "正被其他程序打开" in t]) == 1
    assert staff[-1].endswith("已经更新好了。")
    assert load_workbook(harness.bot.exporter.path(DELIVERY))["拣货单"]["C2"].value == 1
    assert not harness.bot.exporter.due


async def test_staff_edits_come_back_and_stay(harness: Harness) -> None:
    from models.fulfilment import import_statuses

    await harness.say("西红柿2斤 草莓1盒", sender="u1", name="李阿姨")
    await harness.say("土豆3斤", sender="u2", name="小周")
    path = await harness.bot.export(DELIVERY)
    book = load_workbook(path)
    sheet = book["订单"]
    header = [c.value for c in sheet[1]]
    status, sku = header.index("状态") + 1, header.index("商品编码") + 1
    for row in range(2, sheet.max_row + 1):
        code = sheet.cell(row, sku).value
        sheet.cell(row, status).value = {"V01": "已送达", "F01": "缺货", "V02": "已送达"}[code]
    book.save(path)

    assert await harness.bot.services.rewards.pending("u1") == 48  # 9 + 39.9 yuan, once delivered
    result = await import_statuses(path, harness.bot.outbox, harness.clock.now(), harness.bot.services.rewards)
    assert (result.delivered, result.out_of_stock) == (2, 1)
    assert (await Member.get(id="u1")).points == 9  # delivered; the out-of-stock strawberries earn nothing
    assert {l.sku: l.status for l in await OrderLine.all()} == \
        {"V01": "delivered", "F01": "out_of_stock", "V02": "delivered"}
    orders = {o.member_id: o.status for o in await Order.all()}  # type: ignore[attr-defined]
    assert orders == {"u1": "delivered", "u2": "delivered"}
    await harness.flush()
    note = next(t for t in harness.texts(room=ROOM_A) if "李阿姨" in t and "送达" in t)
    assert "西红柿已送达" in note and "丹东草莓 1盒缺货" in note
    assert (await StockDay.filter(sku="F01").count()) == 0  # unlimited: nothing to give back

    again = await import_statuses(path, harness.bot.outbox, harness.clock.now())
    assert (again.delivered, again.out_of_stock, again.unchanged) == (0, 0, 3)  # nothing twice
    rewritten = load_workbook(await harness.bot.export(DELIVERY))
    statuses = {r[6]: r[15] for r in rewritten["订单"].iter_rows(min_row=2, values_only=True)}
    assert statuses == {"V01": "已送达", "F01": "缺货", "V02": "已送达"}  # the edits stay
    pick = {r[0]: r[2] for r in rewritten["拣货单"].iter_rows(min_row=2, values_only=True)}
    assert "F01" not in pick


async def test_staff_export_in_private_sends_the_file(harness: Harness) -> None:
    await harness.say("西红柿1斤")
    await harness.say("/导出", sender=STAFF, room=None)
    await harness.flush()
    sent = [s.message for s in harness.transport.sent if s.message.to == STAFF]
    assert sent[-1].file is not None and sent[-1].file.endswith("orders-2026-12-02.xlsx")
    assert Path(sent[-1].file).is_file()


def test_groupbuy_export_and_import_status_commands(tmp_path: Path) -> None:
    from tests.test_schedule import _write_day

    config, _ = _write_day(tmp_path, f"sqlite://{tmp_path / 'db.sqlite3'}")
    export = subprocess.run([sys.executable, "-m", "bot", "export", "--config", str(config), "--date", "2026-12-02"],
                            capture_output=True, text=True, timeout=120)
    assert export.returncode == 0, export.stderr
    path = Path(export.stdout.strip())
    assert path.is_file() and path.name == "orders-2026-12-02.xlsx"
    bad = subprocess.run([sys.executable, "-m", "bot", "export", "--config", str(config), "--date", "tomorrow"],
                         capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "--date: expected YYYY-MM-DD" in bad.stderr
    imported = subprocess.run([sys.executable, "-m", "bot", "import-status", str(path), "--config", str(config)],
                              capture_output=True, text=True, timeout=120)
    assert imported.returncode == 0, imported.stderr
    assert imported.stdout.startswith("delivered 0, out of stock 0")
    junk = tmp_path / "junk.xlsx"
    junk.write_text("not a workbook", encoding="utf-8")
    refused = subprocess.run([sys.executable, "-m", "bot", "import-status", str(junk), "--config", str(config)],
                             capture_output=True, text=True, timeout=120)
    assert refused.returncode == 2 and "not a readable xlsx workbook" in refused.stderr


def test_addresses_sort_by_building_then_room() -> None:
    addresses = ["10栋1202", "2栋301", "", "2栋1101", "3-2-502", "3-10-101"]
    assert sorted(addresses, key=spreadsheet.address_key) == \
        ["2栋301", "2栋1101", "3-2-502", "3-10-101", "10栋1202", ""]


async def test_a_large_day_is_written_by_a_worker_process_with_the_same_result(harness: Harness,
                                                                                monkeypatch) -> None:
    await busy_day(harness)
    here = load_workbook(await harness.bot.export(DELIVERY))
    local = {name: [list(r) for r in here[name].iter_rows(values_only=True)] for name in here.sheetnames}
    monkeypatch.setattr(spreadsheet, "PROCESS_LINES", 1)
    started = []
    real_init = spreadsheet.ProcessWriter.__init__

    def spy(self: spreadsheet.ProcessWriter, path: Path) -> None:
        started.append(path)
        real_init(self, path)

    monkeypatch.setattr(spreadsheet.ProcessWriter, "__init__", spy)
    there = load_workbook(await harness.bot.export(DELIVERY))
    assert started, "the worker process was not used"
    assert {name: [list(r) for r in there[name].iter_rows(values_only=True)] for name in there.sheetnames} == local
    assert there["配送单"].freeze_panes == "A2"


async def test_a_worker_that_cannot_write_reports_it(tmp_path: Path, harness: Harness, monkeypatch) -> None:
    await harness.say("西红柿1斤")
    monkeypatch.setattr(spreadsheet, "PROCESS_LINES", 1)
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x", encoding="utf-8")
    with pytest.raises(OSError, match="writing the workbook failed"):
        await spreadsheet.export_delivery_date(blocker / "orders.xlsx", DELIVERY, harness.bot.config.timezone)


async def test_a_workbook_folder_that_cannot_be_written_is_said_as_such(tmp_path: Path, db_url: str) -> None:
    """An unwritable export path was reported as "file open in another program"."""
    from tests.conftest import MORNING, make_config, start_harness

    (tmp_path / "a-file").write_text("not a folder")
    config = make_config(tmp_path, db_url, spreadsheet={"path": str(tmp_path / "a-file" / "orders-{date}.xlsx")})
    h = await start_harness(config, MORNING)
    try:
        await h.say("西红柿1斤")
        await h.say("/导出", sender=STAFF, room=None)
        await h.flush()
        staff = h.texts(to=STAFF)
        assert any("写不进去" in t and "[spreadsheet] path" in t for t in staff), staff
        assert not any("正被其他程序打开" in t for t in staff)
        assert any("表格这次没有写成" in t for t in staff)
    finally:
        await h.bot.close()


async def test_a_workbook_given_up_halfway_is_closed_quietly(tmp_path: Path, monkeypatch) -> None:
    """A write that fails or is cancelled before saving closes its sheets' streams itself: left
    to the garbage collector they fail, printed as an ignored exception in whatever runs then."""
    ignored: list[object] = []
    monkeypatch.setattr(sys, "unraisablehook", ignored.append)
    temporary = set(xlsx_temp_files())
    for _ in range(20):
        writer = xlsx.LocalWriter(tmp_path / "given-up.xlsx")
        await writer.sheet("订单", ("a", "b"), (10, 10), 3, True)
        await writer.rows([("西红柿", 2), ("土豆", 3)])
        await writer.sheet("拣货单", ("a",), (10,), 1, False)
        await writer.rows([("V01",)])
        await writer.close()
        del writer
        gc.collect()
    assert ignored == []
    assert set(xlsx_temp_files()) == temporary  # its temporary files are gone too
    assert not (tmp_path / "given-up.xlsx").exists()


def xlsx_temp_files() -> list[str]:
    from openpyxl.worksheet._writer import ALL_TEMP_FILES
    return [p for p in ALL_TEMP_FILES if Path(p).exists()]
