"use strict";
// A live page (data-live = seconds) fetches its figures again while it is open and in view.
(() => {
  const live = document.getElementById("live");
  const seconds = live && Number(live.dataset.live);
  if (!seconds) return;
  const stamp = document.getElementById("stamp");
  async function refresh() {
    if (document.hidden) return;
    const url = new URL(location.href);
    url.searchParams.set("part", "live");
    try {
      const response = await fetch(url, { credentials: "same-origin", cache: "no-store" });
      if (response.status === 401 || response.status === 403) {
        live.insertAdjacentHTML("afterbegin", "<p class=stale>登录已过期：请在微信里重新发送 /看板。</p>");
        clearInterval(timer);
        return;
      }
      if (!response.ok) return;
      live.innerHTML = await response.text();
      const at = response.headers.get("X-Stamp");
      if (stamp && at) stamp.textContent = at + " 更新";
    } catch (error) {
      // offline for a moment: the next round tries again
    }
  }
  const timer = setInterval(refresh, seconds * 1000);
  document.addEventListener("visibilitychange", () => { if (!document.hidden) refresh(); });
})();
