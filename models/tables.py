"""The bot's tables (tortoise-orm). Ids are WeChat contact and room ids, never names.

Idempotency lives in the schema: an inbound message id is unique, a job run is unique per job
and due time, one order per member, community and delivery date.

Model docstrings become table comments, and tortoise's SQLite migrations split DDL on ";" and
choke on quotes: keep both out of model docstrings.
"""

from __future__ import annotations

from typing import Any

from tortoise import fields
from tortoise.models import Model

MONEY_DIGITS, MONEY_PLACES = 12, 2
QUANTITY_DIGITS, QUANTITY_PLACES = 12, 3


class Community(Model):
    """A neighbourhood (小区) and its WeChat group, kept in step with the [[group]] tables of the config."""

    id = fields.IntField(primary_key=True)
    room = fields.CharField(max_length=128, unique=True)
    name = fields.CharField(max_length=64)
    delivery_slot = fields.CharField(max_length=32)  # in force: the config, or a staff change
    config_slot = fields.CharField(max_length=32, default="", db_default="")  # the config at last start
    active = fields.BooleanField(default=True)

    class Meta:
        table = "community"


class Member(Model):
    id = fields.CharField(max_length=128, primary_key=True)  # the WeChat contact id
    name = fields.CharField(max_length=128)
    points = fields.IntField(default=0)
    referrer: fields.ForeignKeyNullableRelation[Member] = fields.ForeignKeyField(
        "models.Member", related_name="invited", null=True, on_delete=fields.SET_NULL
    )
    home: fields.ForeignKeyNullableRelation[Community] = fields.ForeignKeyField(
        "models.Community", related_name="members", null=True, on_delete=fields.SET_NULL
    )
    first_seen = fields.DatetimeField()
    last_seen = fields.DatetimeField()
    code = fields.CharField(max_length=16, null=True, unique=True)  # referral code, made on request
    referred_via = fields.CharField(max_length=8, default="", db_default="")  # join or code
    referred_at = fields.DatetimeField(null=True)
    # The question the bot asked this member and waits for an answer to (handlers.asks):
    # {"room", "at", "proposal", "awaiting"}; their next message in that chat consumes it.
    ask: fields.JSONField[dict[str, Any] | None] = fields.JSONField(null=True)
    # Stored value (储值) as the wallet ledger sums it (models.wallet keeps them in step, under
    # the member's row lock): what was paid in, and what the shop added as bonus.
    wallet_principal = fields.DecimalField(max_digits=MONEY_DIGITS, decimal_places=MONEY_PLACES,
                                           default=0, db_default=0)
    wallet_bonus = fields.DecimalField(max_digits=MONEY_DIGITS, decimal_places=MONEY_PLACES,
                                       default=0, db_default=0)
    # 退订: no campaign messages (docs/CONTRACTS.md section 8); service messages still come.
    unsubscribed = fields.BooleanField(default=False, db_default=False)
    # Levels (models.levels): a position in [[level]] (0: the first, everyone's), and since when.
    level = fields.IntField(default=0, db_default=0)
    level_since = fields.DatetimeField(null=True)
    # 生日 5月3日: "MM-DD" ("" = not given), which the member can set once a year.
    birthday = fields.CharField(max_length=5, default="", db_default="")
    birthday_set_at = fields.DatetimeField(null=True)

    class Meta:
        table = "member"
        # looked up by these (a foreign key has no index of its own; birthdays each day)
        indexes = (("referrer_id",), ("home_id",), ("birthday",))


class MemberContact(Model):
    """Where a member's orders in one community are delivered, and a phone for the driver:
    kept per community, because a member of two groups (her own and her mother's) has two
    doors. A community without a phone of its own uses the member's latest (models.contacts)."""

    id = fields.IntField(primary_key=True)
    member: fields.ForeignKeyRelation[Member] = fields.ForeignKeyField("models.Member", related_name="contacts")
    community: fields.ForeignKeyRelation[Community] = fields.ForeignKeyField(
        "models.Community", related_name="contacts")
    address = fields.CharField(max_length=128, default="")
    phone = fields.CharField(max_length=32, default="")
    updated_at = fields.DatetimeField()

    class Meta:
        table = "member_contact"
        unique_together = (("member", "community"),)


class Product(Model):
    """The catalog, synced from the catalog file at start. Order lines copy name and price."""

    sku = fields.CharField(max_length=32, primary_key=True)
    name = fields.CharField(max_length=64)
    unit = fields.CharField(max_length=16)
    price = fields.DecimalField(max_digits=MONEY_DIGITS, decimal_places=MONEY_PLACES)
    stock = fields.DecimalField(max_digits=QUANTITY_DIGITS, decimal_places=QUANTITY_PLACES, null=True)
    active = fields.BooleanField(default=True)
    position = fields.IntField(default=0)
    aliases: fields.JSONField[list[str]] = fields.JSONField(default=list)

    class Meta:
        table = "product"


class Order(Model):
    """The order of a member for one delivery date in one community."""

    id = fields.IntField(primary_key=True)
    member: fields.ForeignKeyRelation[Member] = fields.ForeignKeyField("models.Member", related_name="orders")
    community: fields.ForeignKeyRelation[Community] = fields.ForeignKeyField(
        "models.Community", related_name="orders")
    lines: fields.ReverseRelation[OrderLine]
    delivery_date = fields.DateField()
    status = fields.CharField(max_length=16, default="placed")  # placed, cancelled, delivered
    # 0: the member's own order of the day. Else the group-buy whose success made this order,
    # kept apart (its own price, not changed by chat) and still unique per group-buy.
    groupbuy_no = fields.IntField(default=0, db_default=0)
    created_at = fields.DatetimeField()
    updated_at = fields.DatetimeField(db_index=True)  # member facts follow changes by it (models.facts)

    class Meta:
        table = "orders"
        unique_together = (("member", "community", "delivery_date", "groupbuy_no"),)
        # A day's orders (exports, summaries, the dashboard); a member's orders of a date (the
        # order book, 我的订单: the unique key seeks the member, then walks her whole history);
        # a group-buy's orders.
        indexes = (("delivery_date", "status"), ("member_id", "delivery_date"), ("groupbuy_no",))


class OrderLine(Model):
    id = fields.IntField(primary_key=True)
    order: fields.ForeignKeyRelation[Order] = fields.ForeignKeyField("models.Order", related_name="lines")
    sku = fields.CharField(max_length=32)
    name = fields.CharField(max_length=64)
    unit = fields.CharField(max_length=16)
    price = fields.DecimalField(max_digits=MONEY_DIGITS, decimal_places=MONEY_PLACES)
    qty = fields.DecimalField(max_digits=QUANTITY_DIGITS, decimal_places=QUANTITY_PLACES)
    note = fields.CharField(max_length=128, default="")
    # placed; delivered or out_of_stock when staff mark it so in the workbook (an
    # out-of-stock line stays, so the workbook keeps showing it, but counts for nothing)
    status = fields.CharField(max_length=16, default="placed", db_default="placed")
    updated_at = fields.DatetimeField()

    class Meta:
        table = "order_line"
        unique_together = (("order", "sku"),)


class GroupBuy(Model):
    """A 拼团: open -> success (N members) / failed (deadline) / cancelled (staff)."""

    id = fields.IntField(primary_key=True)
    sku = fields.CharField(max_length=32)
    size = fields.IntField()
    price = fields.DecimalField(max_digits=MONEY_DIGITS, decimal_places=MONEY_PLACES)
    state = fields.CharField(max_length=16, default="open")
    deadline = fields.DatetimeField()
    community: fields.ForeignKeyNullableRelation[Community] = fields.ForeignKeyField(
        "models.Community", related_name="groupbuys", null=True, on_delete=fields.SET_NULL
    )
    opened_by = fields.CharField(max_length=128)
    name = fields.CharField(max_length=64, default="", db_default="")
    unit = fields.CharField(max_length=16, default="", db_default="")
    delivery_date = fields.DateField(null=True)  # orders made on success are for this date
    progress_shown = fields.BooleanField(default=False, db_default=False)  # one place left, announced
    created_at = fields.DatetimeField()
    closed_at = fields.DatetimeField(null=True)

    class Meta:
        table = "groupbuy"


class GroupBuyParticipant(Model):
    id = fields.IntField(primary_key=True)
    groupbuy: fields.ForeignKeyRelation[GroupBuy] = fields.ForeignKeyField(
        "models.GroupBuy", related_name="participants")
    member: fields.ForeignKeyRelation[Member] = fields.ForeignKeyField("models.Member", related_name="groupbuys")
    community: fields.ForeignKeyNullableRelation[Community] = fields.ForeignKeyField(
        "models.Community", related_name="groupbuy_joins", null=True, on_delete=fields.SET_NULL
    )  # where the member joined: the order goes there, with that group slot
    joined_at = fields.DatetimeField()

    class Meta:
        table = "groupbuy_participant"
        unique_together = (("groupbuy", "member"),)


class PointEntry(Model):
    """One change of a member's available points: the ledger. The balance on the member is its
    sum, and the sum of what the earnings have left. An earning (delta > 0) keeps what is left
    of it and when that expires; a spend, an expiry or a reversal (delta < 0) draws on
    earnings, each draw recorded (PointDraw) so that undoing it refills the same rows."""

    id = fields.IntField(primary_key=True)
    member: fields.ForeignKeyRelation[Member] = fields.ForeignKeyField("models.Member", related_name="point_entries")
    delta = fields.IntField()
    balance = fields.IntField()  # after this entry
    reason = fields.CharField(max_length=64)
    source = fields.CharField(max_length=64, db_index=True)  # order:12, referral:wxid, redeem:<message id>
    created_at = fields.DatetimeField()
    remaining = fields.IntField(default=0, db_default=0)  # what is left of this earning to spend
    expires_at = fields.DatetimeField(null=True, db_index=True)  # None: never (points from before expiry existed)
    remind_at = fields.DatetimeField(null=True, db_index=True)  # the one reminder before it expires

    class Meta:
        table = "point_entry"
        indexes = (("member_id",),)  # looked up by these (a foreign key has no index of its own)


class PointDraw(Model):
    """What a negative ledger row took from one earning."""

    id = fields.IntField(primary_key=True)
    entry: fields.ForeignKeyRelation[PointEntry] = fields.ForeignKeyField("models.PointEntry", related_name="draws")
    earning: fields.ForeignKeyRelation[PointEntry] = fields.ForeignKeyField("models.PointEntry", related_name="drawn")
    points = fields.IntField()

    class Meta:
        table = "point_draw"


class WalletEntry(Model):
    """One change of a member's stored value: the wallet ledger, append-only. `principal` and
    `bonus` are the two parts of `delta`; the balances after it are kept on the row too. The
    source (the message, request or order settlement that made it) is unique: booked once."""

    id = fields.IntField(primary_key=True)
    member: fields.ForeignKeyRelation[Member] = fields.ForeignKeyField("models.Member", related_name="wallet_entries")
    delta = fields.DecimalField(max_digits=MONEY_DIGITS, decimal_places=MONEY_PLACES)
    principal = fields.DecimalField(max_digits=MONEY_DIGITS, decimal_places=MONEY_PLACES)
    bonus = fields.DecimalField(max_digits=MONEY_DIGITS, decimal_places=MONEY_PLACES)
    balance = fields.DecimalField(max_digits=MONEY_DIGITS, decimal_places=MONEY_PLACES)  # after
    principal_after = fields.DecimalField(max_digits=MONEY_DIGITS, decimal_places=MONEY_PLACES)
    reason = fields.CharField(max_length=64)
    source = fields.CharField(max_length=96, unique=True)
    actor = fields.CharField(max_length=128)  # the staff member, or the job, that booked it
    order_id = fields.IntField(null=True, db_index=True)  # the order a payment or give-back is for
    # A day's top-ups and refunds (the workbook's 储值 sheet) are found by when they were booked.
    created_at = fields.DatetimeField(db_index=True)

    class Meta:
        table = "wallet_entry"
        indexes = (("member_id",),)  # looked up by these (a foreign key has no index of its own)


class Coupon(Model):
    """A coupon given to a member, from a [[coupon]] template (its terms copied: a template
    changed later does not change coupons already given). unused -> reserved (by an order at
    cut-off) -> used (delivered); released back to unused when the order no longer meets it;
    expired; void."""

    id = fields.IntField(primary_key=True)
    member: fields.ForeignKeyRelation[Member] = fields.ForeignKeyField("models.Member", related_name="coupons")
    template = fields.CharField(max_length=32)
    name = fields.CharField(max_length=64)
    off = fields.DecimalField(max_digits=MONEY_DIGITS, decimal_places=MONEY_PLACES)
    min_spend = fields.DecimalField(max_digits=MONEY_DIGITS, decimal_places=MONEY_PLACES)
    skus: fields.JSONField[list[str]] = fields.JSONField(default=list)
    state = fields.CharField(max_length=16, default="unused", db_index=True)
    issued_at = fields.DatetimeField()
    expires_at = fields.DatetimeField()
    order_id = fields.IntField(null=True)  # the order holding (or that used) it
    source = fields.CharField(max_length=96, unique=True)  # what gave it (a staff message, a member's first sight)
    # When to remind the member it expires soon ([coupons] remind_before); None: no reminder
    # (reminded already, or it never lived that long).
    remind_at = fields.DatetimeField(null=True, db_index=True)
    # A reward of one unit of this product free ([[reward]] sku): it brings the unit to the
    # member's next order at cut-off, and `off` is that unit's price. "" for a coupon.
    gift = fields.CharField(max_length=32, default="", db_default="")

    class Meta:
        table = "coupon"
        indexes = (("member_id",),)  # looked up by these (a foreign key has no index of its own)


class Settlement(Model):
    """An order as settled at cut-off (docs/CONTRACTS.md section 7): its total, the coupon's
    discount, what the wallet paid and what is due on delivery. Settled again, it changes
    with the order; the wallet ledger holds each payment and what went back."""

    id = fields.IntField(primary_key=True)
    order: fields.OneToOneRelation[Order] = fields.OneToOneField("models.Order", related_name="settlement")
    total = fields.DecimalField(max_digits=MONEY_DIGITS, decimal_places=MONEY_PLACES)
    discount = fields.DecimalField(max_digits=MONEY_DIGITS, decimal_places=MONEY_PLACES, default=0)
    wallet_paid = fields.DecimalField(max_digits=MONEY_DIGITS, decimal_places=MONEY_PLACES, default=0)
    due = fields.DecimalField(max_digits=MONEY_DIGITS, decimal_places=MONEY_PLACES)
    coupon_id = fields.IntField(null=True)  # the coupon the discount came from
    settled_at = fields.DatetimeField()
    updated_at = fields.DatetimeField()

    class Meta:
        table = "order_settlement"


class MemberFact(Model):
    """What the sweeps (models.facts) know of a member's buying: read by segments."""

    member_id = fields.CharField(max_length=128, primary_key=True)  # a Member's id (rewritten whole each night)
    last_order_on = fields.DateField(null=True)  # the shop's calendar date of the last order not cancelled
    orders = fields.IntField(default=0)
    spend = fields.DecimalField(max_digits=MONEY_DIGITS, decimal_places=MONEY_PLACES, default=0, db_default=0)
    spend_90d = fields.DecimalField(max_digits=MONEY_DIGITS, decimal_places=MONEY_PLACES, default=0)
    cycle_days = fields.DecimalField(max_digits=8, decimal_places=1, null=True)  # median days between order dates
    updated_at = fields.DatetimeField()

    class Meta:
        table = "member_fact"


class ProductAsk(Model):
    """A member asked about a product in chat ("草莓甜吗", "还有牛奶吗"): with no order after it,
    they are 只看不买 (models.segments). One row per member, product and day."""

    id = fields.IntField(primary_key=True)
    member: fields.ForeignKeyRelation[Member] = fields.ForeignKeyField("models.Member", related_name="asks")
    sku = fields.CharField(max_length=32)
    asked_on = fields.DateField()  # the shop's calendar
    asked_at = fields.DatetimeField(db_index=True)

    class Meta:
        table = "product_ask"
        unique_together = (("member", "sku", "asked_on"),)


class OrderRate(Model):
    """The points multiplier a delivered order earns at, fixed when it is first delivered: the
    member's level then, times the birthday multiplier in their birth month (models.levels).
    Settling the order again (a 缺货 read back) keeps it."""

    order_id = fields.IntField(primary_key=True, generated=False)
    multiplier = fields.DecimalField(max_digits=6, decimal_places=2)
    level = fields.IntField()
    birthday = fields.BooleanField()
    decided_at = fields.DatetimeField()

    class Meta:
        table = "order_rate"


class LevelNotice(Model):
    """A 保级 reminder, or a level lost, for one member and month's end: once each. Only a
    member reminded for a month's end loses their level at it (models.levels)."""

    id = fields.IntField(primary_key=True)
    member: fields.ForeignKeyRelation[Member] = fields.ForeignKeyField("models.Member", related_name="level_notices")
    period_end = fields.DateField()
    kind = fields.CharField(max_length=8)  # remind, down
    at = fields.DatetimeField()

    class Meta:
        table = "level_notice"
        unique_together = (("member", "period_end", "kind"),)


class Campaign(Model):
    """A win-back campaign (/推送): drafted with its targets and control group, sent (paced,
    `[campaign] daily_max` a day) once confirmed. draft -> sending -> done; or cancelled."""

    id = fields.IntField(primary_key=True)
    segment = fields.CharField(max_length=16)
    template = fields.CharField(max_length=32, default="")  # the coupon each target gets ("" = none)
    text = fields.TextField()
    state = fields.CharField(max_length=16, default="draft", db_index=True)
    created_by = fields.CharField(max_length=128)
    created_at = fields.DatetimeField()
    started_at = fields.DatetimeField(null=True)  # confirmed: the day its returns are counted from

    class Meta:
        table = "campaign"


class CampaignMember(Model):
    """One member of a campaign: a target (sent_at once sent), in the control group, or left
    out (and why: unsubscribed, rested, unreachable)."""

    id = fields.IntField(primary_key=True)
    campaign: fields.ForeignKeyRelation[Campaign] = fields.ForeignKeyField("models.Campaign", related_name="members")
    member: fields.ForeignKeyRelation[Member] = fields.ForeignKeyField("models.Member", related_name="campaigns")
    role = fields.CharField(max_length=16)  # target, control, out
    reason = fields.CharField(max_length=16, default="")  # for out
    sent_at = fields.DatetimeField(null=True, db_index=True)
    message_id = fields.IntField(null=True)  # the outbox message that carried it: reached once it is sent
    # What this member's message says in the campaign text's {placeholders} (a nudge's own
    # figures: the neighbours line's building and households); None: the text as it is.
    fill: fields.JSONField[dict[str, str] | None] = fields.JSONField(null=True)

    class Meta:
        table = "campaign_member"
        indexes = (("member_id",),)  # looked up by these (a foreign key has no index of its own)
        unique_together = (("campaign", "member"),)


class StaffRequest(Model):
    """A top-up or refund over `[wallet] confirm_over`: waits for `/确认` from another staff member."""

    id = fields.IntField(primary_key=True)
    kind = fields.CharField(max_length=16)  # top_up, refund
    member: fields.ForeignKeyRelation[Member] = fields.ForeignKeyField("models.Member", related_name="requests")
    amount = fields.DecimalField(max_digits=MONEY_DIGITS, decimal_places=MONEY_PLACES)
    reason = fields.CharField(max_length=128, default="")
    asked_by = fields.CharField(max_length=128)
    source = fields.CharField(max_length=96, unique=True)  # the message that asked
    state = fields.CharField(max_length=16, default="waiting")  # waiting, done, refused
    decided_by = fields.CharField(max_length=128, default="")
    created_at = fields.DatetimeField()
    decided_at = fields.DatetimeField(null=True)

    class Meta:
        table = "staff_request"


class ReferralVisit(Model):
    """Someone opened a referral link."""

    id = fields.IntField(primary_key=True)
    inviter: fields.ForeignKeyRelation[Member] = fields.ForeignKeyField("models.Member", related_name="link_visits")
    at = fields.DatetimeField()
    agent = fields.CharField(max_length=200, default="")

    class Meta:
        table = "referral_visit"


class InboundMessage(Model):
    """Every message handled, once: a re-delivered message id fails the unique insert."""

    id = fields.IntField(primary_key=True)
    message_id = fields.CharField(max_length=128, unique=True)
    room = fields.CharField(max_length=128, null=True)
    sender = fields.CharField(max_length=128)
    text = fields.TextField()
    received_at = fields.DatetimeField()
    intent = fields.CharField(max_length=32, default="")
    effect: fields.JSONField[dict[str, Any] | None] = fields.JSONField(null=True)  # what it changed, so that a recall can undo it

    class Meta:
        table = "inbound_message"


class OutboxMessage(Model):
    """A message waiting to be sent, or sent. Written in the same transaction as the change
    that caused it, so a reply is never lost and never made twice."""

    id = fields.IntField(primary_key=True)
    room = fields.CharField(max_length=128, null=True)
    to = fields.CharField(max_length=128, null=True)
    text = fields.TextField()
    mentions: fields.JSONField[list[str]] = fields.JSONField(default=list)
    file = fields.CharField(max_length=512, null=True)  # a file to send with the text
    broadcast = fields.BooleanField(default=False)
    status = fields.CharField(max_length=16, default="pending", db_index=True)
    created_at = fields.DatetimeField()
    sent_at = fields.DatetimeField(null=True)
    attempts = fields.IntField(default=0, db_default=0)  # failed sends so far
    retry_at = fields.DatetimeField(null=True)  # after a failed send: not before this

    class Meta:
        table = "outbox_message"
        indexes = (("status", "sent_at"),)  # the sends of the last minute, at start (the pace)


class OrderingDay(Model):
    """One order date: when ordering for it was closed (cut-off, or /截单)."""

    order_date = fields.DateField(primary_key=True)
    closed_at = fields.DatetimeField(null=True)

    class Meta:
        table = "ordering_day"


class JobRun(Model):
    """A scheduled job that ran for one due time: the unique key makes it run once."""

    id = fields.IntField(primary_key=True)
    job = fields.CharField(max_length=64)
    due_at = fields.DatetimeField()
    ran_at = fields.DatetimeField()

    class Meta:
        table = "job_run"
        unique_together = (("job", "due_at"),)


class ChainVersion(Model):
    """The latest version of a 接龙 list in a group, to tell new lines from copied ones."""

    id = fields.IntField(primary_key=True)
    room = fields.CharField(max_length=128)
    title = fields.CharField(max_length=256)
    lines: fields.JSONField[list[dict[str, Any]]] = fields.JSONField(default=list)  # OwnedLine.to_json
    message_id = fields.CharField(max_length=128)
    updated_at = fields.DatetimeField()

    class Meta:
        table = "chain_version"
        unique_together = (("room", "title"),)


class StockDay(Model):
    """How much of a limited product is taken for one delivery date. Changed only under a row
    lock, so concurrent orders can never take more than the stock."""

    id = fields.IntField(primary_key=True)
    sku = fields.CharField(max_length=32)
    delivery_date = fields.DateField()
    taken = fields.DecimalField(max_digits=QUANTITY_DIGITS, decimal_places=QUANTITY_PLACES, default=0)
    sold_out_announced = fields.BooleanField(default=False)

    class Meta:
        table = "stock_day"
        unique_together = (("sku", "delivery_date"),)
        indexes = (("delivery_date",),)  # a day's stock rows (the unique key leads with the product)


class BotState(Model):
    """Small facts that must survive a restart: broadcasts paused, when scheduling began."""

    key = fields.CharField(max_length=64, primary_key=True)
    value: fields.JSONField[dict[str, Any] | None] = fields.JSONField(null=True)
    updated_at = fields.DatetimeField()

    class Meta:
        table = "bot_state"


class SignIn(Model):
    """A dashboard link sent to a staff member by /看板: opened once, within minutes. Only a
    hash of the link's token is kept."""

    token = fields.CharField(max_length=64, primary_key=True)  # sha256 hex of the token in the link
    staff = fields.CharField(max_length=128)
    created_at = fields.DatetimeField()
    expires_at = fields.DatetimeField()
    used_at = fields.DatetimeField(null=True)

    class Meta:
        table = "sign_in"


class WebSession(Model):
    """A staff member signed in to the dashboard: the cookie holds the token, this its hash."""

    token = fields.CharField(max_length=64, primary_key=True)  # sha256 hex of the cookie
    staff = fields.CharField(max_length=128)
    created_at = fields.DatetimeField()
    expires_at = fields.DatetimeField(db_index=True)

    class Meta:
        table = "web_session"


class DayFigure(Model):
    """One delivery date in figures (orders, households, revenue), kept for the dashboard.
    Worked out again whenever an order of that date changes (models.dashboard)."""

    delivery_date = fields.DateField(primary_key=True)
    orders = fields.IntField()
    households = fields.IntField()
    revenue = fields.DecimalField(max_digits=MONEY_DIGITS, decimal_places=MONEY_PLACES)
    computed_at = fields.DatetimeField()

    class Meta:
        table = "day_figure"


class SegmentDay(Model):
    """How many members a segment held on one day, in all (community empty) and per community:
    written each night, so the dashboard shows how segments move."""

    id = fields.IntField(primary_key=True)
    day = fields.DateField()
    segment = fields.CharField(max_length=16)
    community = fields.CharField(max_length=64, default="")
    members = fields.IntField()

    class Meta:
        table = "segment_day"
        unique_together = (("day", "segment", "community"),)
