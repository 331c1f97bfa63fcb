/* Quorum console behaviour. Loaded as a file (the CSP allows no inline
   script). Everything here is an enhancement: every action also works as a
   plain form submission. */
(function () {
  "use strict";

  function typing(target) {
    if (!target) return false;
    var tag = target.tagName;
    // A focused radio button or checkbox takes no text: shortcuts still apply (1 then r).
    if (tag === "INPUT" && (target.type === "radio" || target.type === "checkbox")) return false;
    return target.isContentEditable || tag === "INPUT" || tag === "TEXTAREA" || tag === "SELECT";
  }

  function announce(text) {
    var live = document.getElementById("live");
    if (!live || !text) return;
    live.textContent = "";
    var p = document.createElement("p");
    p.className = "message";
    p.textContent = text;
    live.appendChild(p);
  }
  window.quorumAnnounce = announce;

  // One submission per form, even on a double click or a double Enter.
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!form.hasAttribute("data-once")) return;
    if (form.dataset.submitted === "yes") {
      event.preventDefault();
      return;
    }
    form.dataset.submitted = "yes";
    // A disabled button's name=value is not sent: keep the pressed one's ("Cast vote and claim next").
    var submitter = event.submitter;
    if (submitter && submitter.name) {
      var kept = document.createElement("input");
      kept.type = "hidden";
      kept.name = submitter.name;
      kept.value = submitter.value;
      form.appendChild(kept);
    }
    form.querySelectorAll("button[type=submit], button:not([type])").forEach(function (b) {
      b.setAttribute("aria-disabled", "true");
      b.disabled = true;
    });
  }, true);

  // htmx forms re-enable after an answer that did not replace them (an error).
  document.addEventListener("htmx:afterRequest", function (event) {
    var form = event.target.closest ? event.target.closest("form[data-once]") : null;
    if (form && document.body.contains(form) && !event.detail.successful) {
      delete form.dataset.submitted;
      form.querySelectorAll("button").forEach(function (b) { b.disabled = false; b.removeAttribute("aria-disabled"); });
    }
  });

  // Keyboard shortcuts: elements with data-shortcut="k" are clicked (buttons,
  // links, radio buttons) or focused (fields) when k is pressed outside a field.
  // They can be turned off (WCAG 2.1.4): the choice is kept in this browser's localStorage.
  var SHORTCUTS_KEY = "quorum.shortcuts";
  function shortcutsOn() {
    try { return window.localStorage.getItem(SHORTCUTS_KEY) !== "off"; } catch (e) { return true; }
  }
  var pendingG = false;
  // Ctrl+Enter (⌘+Enter) submits the form through its [data-submit-shortcut] button, also from a field:
  // "Cast vote and claim next" right after typing the rationale.
  document.addEventListener("keydown", function (event) {
    // Not a single-key shortcut (WCAG 2.1.4): it stays on when those are turned off.
    if (event.key !== "Enter" || !(event.ctrlKey || event.metaKey) || event.altKey) return;
    var button = document.querySelector("[data-submit-shortcut]");
    if (!button || !button.form || button.disabled) return;
    // Only from within the vote form or from no form at all: Ctrl+Enter in a note or an escalation
    // reason must never cast a (final) vote.
    var inForm = event.target && event.target.closest ? event.target.closest("form") : null;
    if (inForm && inForm !== button.form) return;
    event.preventDefault();
    button.form.requestSubmit(button);
  });
  document.addEventListener("keydown", function (event) {
    if (event.altKey || event.ctrlKey || event.metaKey || typing(event.target) || !shortcutsOn()) return;
    var key = event.key;
    if (pendingG) {
      pendingG = false;
      var goto = document.querySelector('[data-goto="' + CSS.escape(key) + '"]');
      if (goto) { event.preventDefault(); goto.click(); }
      return;
    }
    if (key === "g") { pendingG = true; return; }
    var el = document.querySelector('[data-shortcut="' + CSS.escape(key) + '"]');
    if (!el) return;
    event.preventDefault();
    if (el.tagName === "TEXTAREA" || (el.tagName === "INPUT" && el.type !== "radio" && el.type !== "checkbox") || el.tagName === "SELECT") {
      el.focus();
    } else {
      if (el.type === "radio" || el.type === "checkbox") el.focus();
      el.click();
      var label = el.getAttribute("data-announce");
      if (label) announce(label);
    }
  });

  // Countdowns: <time data-countdown datetime="ISO">; text is rendered by the
  // server and refreshed here in the page's language.
  function refreshCountdowns() {
    var lang = document.documentElement.lang || "en";
    var rtf = window.Intl && Intl.RelativeTimeFormat ? new Intl.RelativeTimeFormat(lang, { numeric: "auto" }) : null;
    if (!rtf) return;
    document.querySelectorAll("time[data-countdown]").forEach(function (el) {
      var at = Date.parse(el.getAttribute("datetime"));
      if (isNaN(at)) return;
      var seconds = Math.round((at - Date.now()) / 1000);
      var abs = Math.abs(seconds), value, unit;
      if (abs < 60) { value = seconds; unit = "second"; }
      else if (abs < 3600) { value = Math.round(seconds / 60); unit = "minute"; }
      else if (abs < 86400) { value = Math.round(seconds / 3600); unit = "hour"; }
      else { value = Math.round(seconds / 86400); unit = "day"; }
      el.textContent = rtf.format(value, unit);
    });
  }
  // An element the server marks data-focus-on-load (an error summary, a swapped-in result) takes the
  // focus, once, so keyboard and screen-reader users land where the answer is (WCAG 2.4.3, 3.3.1).
  function focusMarked() {
    var el = document.querySelector("[data-focus-on-load]");
    if (!el) return;
    el.removeAttribute("data-focus-on-load");
    if (!el.hasAttribute("tabindex")) el.setAttribute("tabindex", "-1");
    el.focus();
  }

  // Flash messages are moved into the live region after load, so that they are announced.
  function announceFlash() {
    var flash = document.getElementById("flash"), live = document.getElementById("live");
    if (!flash || !live || !flash.children.length) return;
    window.setTimeout(function () {
      live.textContent = "";
      while (flash.firstChild) live.appendChild(flash.firstChild);
      document.documentElement.setAttribute("data-flash-announced", "yes");
    }, 150);
  }

  function setUpShortcutToggle() {
    var box = document.getElementById("shortcuts-enabled");
    if (!box) return;
    box.checked = shortcutsOn();
    box.closest(".shortcut-toggle").hidden = false;
    box.addEventListener("change", function () {
      try { window.localStorage.setItem(SHORTCUTS_KEY, box.checked ? "on" : "off"); } catch (e) { /* private mode */ }
    });
  }

  // The browser's time zone, for users who chose none in Settings (console.preferences).
  function rememberTimeZone() {
    try {
      var zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
      if (zone && document.cookie.indexOf("quorum_tz=" + encodeURIComponent(zone)) === -1) {
        document.cookie = "quorum_tz=" + encodeURIComponent(zone) + "; path=/; max-age=31536000; SameSite=Lax";
      }
    } catch (e) { /* no Intl: the site's zone applies */ }
  }

  document.addEventListener("DOMContentLoaded", function () {
    rememberTimeZone();
    refreshCountdowns();
    window.setInterval(refreshCountdowns, 30000);
    setUpShortcutToggle();
    focusMarked();
    announceFlash();
  });
  document.addEventListener("htmx:afterSettle", function (event) {
    refreshCountdowns();
    var msg = event.target.querySelector ? event.target.querySelector("[data-announce-on-load]") : null;
    if (msg) announce(msg.getAttribute("data-announce-on-load"));
    focusMarked();
  });
})();
