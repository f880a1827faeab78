"""Every router, in the order the dispatcher tries them."""

from __future__ import annotations

from handlers import (asks, broadcasts, chains, groupbuys, levels, members, orders, points, questions, referrals, segments,
                      staff, wallet)

# Staff routers first; the last handler of `staff` refuses any other command (a member's
# /帮助 is answered by `members` before it).
ROUTERS = [broadcasts.router, groupbuys.router, wallet.router, points.router, levels.router, segments.router, referrals.router,
           members.router, questions.router, staff.router, chains.router, orders.router, asks.router]
