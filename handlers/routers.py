"""Every router, in the order the dispatcher tries them."""

from __future__ import annotations

from handlers import broadcasts, chains, groupbuys, orders, referrals, staff

# Staff routers first; the last handler of `staff` refuses any other command.
ROUTERS = [broadcasts.router, groupbuys.router, referrals.router, staff.router, chains.router,
           orders.router]
