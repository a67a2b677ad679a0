/*
 * sessionkeeper browser tracker. No build step, no dependency:
 *   <script defer src="/tracker.js" data-key="pk_…" data-kind="page" data-user="…"></script>
 *
 * It keeps three running totals per session from performance.now(): engaged_ms (the page is
 * visible and focused), visible_ms and wall_ms, and reports them with a sequence number, so
 * a duplicate or a late report is harmless (the server keeps the maximum of each). Reports go
 * on a timer while the page is open, when it is hidden and when it is left (pagehide); never
 * on unload/beforeunload, which break the back-forward cache. A page restored from that cache
 * (pageshow) resumes counting. Reports are text/plain JSON (no CORS preflight) sent with
 * fetch keepalive, falling back to sendBeacon; a report that could not be sent is kept and
 * sent again later with its original time.
 *
 * Attributes: data-key (a publishable key) and data-kind start a session; data-user names
 * the user; data-token continues a session the server started (a link's companion page);
 * data-mode "page" or "companion"; data-api the server's address (default: where this script
 * came from); data-interval the seconds between beats (default: the policy's). A link's
 * companion page also sets data-open (the link to the lesson, opened once) and, on a reload,
 * data-continued with the totals reported so far (data-engaged, -visible, -wall, -seq).
 */
(function () {
  "use strict";
  var script = document.currentScript;
  if (!script || !window.fetch && !navigator.sendBeacon) return;
  var data = script.dataset;
  var api = (data.api || script.src.replace(/\/[^\/]*$/, "")) + "/v1/tracker/";
  var token = data.token;
  var interval = (+data.interval || 60) * 1000;
  var queue = [];
  var seq, engaged, visible, wall, last, shown, focused, timer, ended, starting;

  function reset() {
    seq = engaged = visible = wall = 0;
    last = performance.now();
    look();
  }

  function look() {
    shown = document.visibilityState == "visible";
    focused = shown && document.hasFocus();
  }

  // Add the time since the last look to the totals, by the state the page was in.
  function tick() {
    var now = performance.now();
    var spent = now - last;
    last = now;
    wall += spent;
    if (shown) visible += spent;
    if (focused) engaged += spent;
    look();
  }

  function report() {
    tick();
    return {
      token: token,
      seq: ++seq,
      engaged_ms: Math.round(engaged),
      visible_ms: Math.round(visible),
      wall_ms: Math.round(wall),
      state: shown ? "visible" : "hidden",
      at: Date.now()
    };
  }

  function post(path, body) {
    var text = JSON.stringify(body);
    try {
      return fetch(api + path, { method: "POST", body: text, keepalive: true, credentials: "omit" });
    } catch (e) {
      // No fetch, or its keepalive quota is used up: a beacon still leaves with the page.
      if (navigator.sendBeacon && navigator.sendBeacon(api + path, text)) {
        return Promise.resolve({ ok: 1, status: 200 });
      }
      return Promise.reject(e);
    }
  }

  function send(path, body) {
    post(path, body).then(function (response) {
      var status = response.status;
      if (status == 409 || status == 404) {
        // The session was closed (it timed out while this page slept): a page with a key
        // starts a new one; a companion page stops.
        if (data.key && path == "beat" && !ended) { token = 0; reset(); start(); }
        else stop();
      } else if (status >= 500 || status == 429) {
        keep(path, body);
      }
    }, function () {
      keep(path, body);
    });
  }

  // Failed reports are sent again, oldest first, with their original times.
  function keep(path, body) {
    queue.push([path, body]);
    if (queue.length > 30) queue.shift();
  }

  function beat(path) {
    if (!token) return start();
    var waiting = queue;
    queue = [];
    waiting.forEach(function (item) { send(item[0], item[1]); });
    send(path || "beat", report());
  }

  // One start at a time: a timer, a visibility change and a pagehide may all ask for one.
  function start() {
    if (starting || !data.key) return;
    starting = 1;
    post("start", { key: data.key, kind: data.kind || "page", mode: data.mode || "page", user_id: data.user || undefined })
      .then(function (response) { return response.ok && response.json(); })
      .then(function (started) {
        starting = 0;
        if (!started || token) return;
        token = started.token;
        interval = (+data.interval || started.heartbeat_interval_s) * 1000;
        run();
      }, function () { starting = 0; });
  }

  function run() {
    clearInterval(timer);
    timer = setInterval(beat, interval);
  }

  function stop() {
    ended = 1;
    clearInterval(timer);
  }

  document.addEventListener("visibilitychange", function () { if (!ended) beat(); });
  addEventListener("focus", tick);
  addEventListener("blur", tick);
  addEventListener("pagehide", function (event) {
    if (ended || !token) return;
    if (event.persisted) {
      // Into the back-forward cache: it may come back, so the session only hears "hidden".
      beat();
      clearInterval(timer);
    } else {
      beat("end");
      stop();
    }
  });
  addEventListener("pageshow", function (event) {
    if (!event.persisted) return;
    // Time spent in the cache is not time on the page.
    last = performance.now();
    look();
    ended = 0;
    beat();
    run();
  });

  reset();
  if (token) {
    // A reloaded companion page counts on from what its session has reported, and says at
    // once that it is back (the server holds a closed companion page's end a few seconds).
    engaged = +data.engaged || 0;
    visible = +data.visible || 0;
    wall = +data.wall || 0;
    seq = +data.seq || 0;
    run();
    beat();
  } else start();

  // A link's companion page opens the lesson once, not again on a reload.
  var open = data.open && !data.continued && document.querySelector(data.open);
  if (open) {
    if (/^https?:/.test(open.href)) window.open(open.href, "_blank", "noopener");
    else location.href = open.href;
  }
})();
