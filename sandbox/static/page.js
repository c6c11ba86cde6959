"use strict";
const $ = (id) => document.getElementById(id);
const state = { config: null, token: null, user: null, login: null };

function showError(text) { $("error").textContent = text || ""; }

async function call(method, url, body, token) {
  const headers = { "Accept": "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (token) headers["Authorization"] = "Bearer " + token;
  const response = await fetch(url, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await response.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch (e) { data = { raw: text }; }
  if (!response.ok) {
    const err = (data && data.error) || {};
    throw new Error((err.message || ("HTTP " + response.status)) + (err.code ? " [" + err.code + "]" : ""));
  }
  return data;
}
const citytiles = (method, path, body) => call(method, "/_sandbox/citytiles" + path, body, state.token);

function listOf(data, keys) {
  if (Array.isArray(data)) return data;
  for (const key of keys) if (data && Array.isArray(data[key])) return data[key];
  return [];
}

function personKey() { return "sandbox-person:" + $("channel").value + ":" + $("app").value; }

function fillApps() {
  const channel = $("channel").value;
  const apps = channel === "wechat" ? state.config.wechat_apps.filter((a) => a.kind === "miniprogram") : state.config.alipay_apps.filter((a) => a.kind === "mini_program");
  $("app").replaceChildren(...apps.map((a) => new Option(a.name + " · " + a.app_id, a.app_id)));
  document.querySelectorAll("section").forEach((s) => { s.classList.toggle("wechat", channel === "wechat"); s.classList.toggle("alipay", channel === "alipay"); });
}

async function loadCities() {
  try {
    const cities = listOf(await call("GET", "/_sandbox/citytiles/api/v1/cities"), ["cities", "items", "data"]);
    $("city").replaceChildren(...cities.map((c) => new Option((c.name || c.code) + " (" + (c.code || c.id) + ")", c.code || c.id || c.slug)));
    $("cities-note").textContent = cities.length ? "" : "citytiles serves no cities yet.";
  } catch (e) {
    $("cities-note").textContent = "Could not list cities: " + e.message;
  }
}

function optional(id) { const v = $(id).value.trim(); return v === "" ? undefined : v; }

async function logIn() {
  showError("");
  const channel = $("channel").value, app_id = $("app").value;
  const known = localStorage.getItem(personKey()) || undefined;
  const who = { app_id, real_name: optional("real-name"), id_number: optional("id-number"), phone: optional("phone-number") };
  try {
    let code;
    if (channel === "wechat") {
      const issued = await call("POST", "/_sandbox/wechat/login-code", { ...who, openid: known });
      localStorage.setItem(personKey(), issued.openid); state.user = issued.openid; code = issued.code;
      state.phoneCode = issued.phone_code;
      state.login = { channel, app_id, user: issued.openid };
    } else {
      const issued = await call("POST", "/_sandbox/alipay/auth-code", { ...who, user_id: known });
      localStorage.setItem(personKey(), issued.user_id); state.user = issued.user_id; code = issued.auth_code;
      state.login = { channel, app_id, user: issued.user_id, open_id: issued.open_id };
    }
    const session = await citytiles("POST", "/api/v1/sessions", { channel, app_id, code });
    state.token = session.token;
    $("who").textContent = "Logged in as " + state.user + " until " + session.expires_at;
    await Promise.all([loadTiles(), loadMe(), loadMessages()]);
  } catch (e) { showError(e.message); }
}

async function loadConsentText() {
  // The text a resident agrees to, and its version, come from citytiles itself.
  try {
    const consent = await call("GET", "/_sandbox/citytiles/api/v1/consent-texts/real_name_verification");
    $("bind-consent-text").textContent = consent.text;
    $("bind-consent-version").value = consent.version;
  } catch (e) { $("bind-consent-text").textContent = "Could not load the consent text: " + e.message; }
}

async function bindPhone() {
  showError("");
  try {
    // The mini-program's getPhoneNumber button gives a one-time code; the sandbox issued one at login.
    if (!state.phoneCode) { showError("Log in through the WeChat mini-program with a phone number first."); return; }
    await citytiles("POST", "/api/v1/me/phone", { code: state.phoneCode });
    state.phoneCode = null;
    await loadMe();
  } catch (e) { showError(e.message); }
}

async function logOut() {
  showError("");
  try { if (state.token) await citytiles("DELETE", "/api/v1/sessions/current"); } catch (e) { showError(e.message); }
  state.token = null; state.login = null; $("who").textContent = "Logged out."; $("me").textContent = "—";
}

async function loadTiles() {
  const city = $("city").value;
  if (!city) return;
  try {
    const tiles = listOf(await citytiles("GET", "/api/v1/cities/" + encodeURIComponent(city) + "/services?channel=" + $("channel").value), ["services", "tiles", "items", "data"]);
    $("tiles").replaceChildren(...tiles.map((t) => {
      const card = document.createElement("div"); card.className = "tile";
      const name = document.createElement("b"); name.textContent = t.name || t.code;
      const meta = document.createElement("span"); meta.textContent = [t.category, t.state, t.message].filter(Boolean).join(" · ");
      card.append(name, meta);
      card.tabIndex = 0; card.setAttribute("role", "button");
      card.addEventListener("click", () => openService(t.code));
      card.addEventListener("keydown", (event) => { if (event.key === "Enter") openService(t.code); });
      return card;
    }));
    if (!tiles.length) $("tiles").textContent = "No services in this city for this channel.";
  } catch (e) { showError(e.message); }
}

async function loadMe() {
  try { $("me").textContent = JSON.stringify(await citytiles("GET", "/api/v1/me"), null, 2); } catch (e) { showError(e.message); }
}

async function loadMessages() {
  if (!state.user) return;
  try {
    const data = await call("GET", "/_sandbox/messages?channel=" + $("channel").value + "&user=" + encodeURIComponent(state.user));
    $("messages").textContent = data.messages.length ? JSON.stringify(data.messages, null, 2) : "No notices yet.";
  } catch (e) { showError(e.message); }
}

async function bindRealName() {
  showError(""); $("bind-result").textContent = "";
  try {
    if (!$("bind-consent").checked) { showError("Binding a real name needs your consent."); return; }
    const result = await citytiles("POST", "/api/v1/me/real-name", {
      name: $("bind-name").value.trim(),
      id_number: $("bind-id").value.trim(),
      consent_version: $("bind-consent-version").value.trim(),
    });
    $("bind-result").textContent = "Bound: " + JSON.stringify(result);
    await loadMe();
  } catch (e) { showError(e.message); }
}

async function loadPlanted() {
  try {
    const data = await call("GET", "/_sandbox/bills/discrepancies");
    $("bill-planted").textContent = data.discrepancies.length ? JSON.stringify(data.discrepancies, null, 2) : "Nothing planted.";
  } catch (e) { showError(e.message); }
}

async function plantDifference() {
  showError("");
  const body = { channel: $("bill-channel").value, kind: $("bill-kind").value };
  const order = $("bill-order").value.trim(), amount = $("bill-amount").value.trim();
  if (order) body.out_trade_no = order;
  if (amount) body.amount_fen = Number(amount);
  try { await call("POST", "/_sandbox/bills/discrepancies", body); } catch (e) { showError(e.message); }
  await loadPlanted();
}

async function start() {
  try { state.config = await call("GET", "/_sandbox/config"); } catch (e) { showError("Sandbox config: " + e.message); return; }
  fillApps();
  await loadCities();
  $("channel").addEventListener("change", () => { fillApps(); state.token = null; state.login = null; $("who").textContent = ""; });
  $("city").addEventListener("change", () => { if (state.token) loadTiles(); });
  $("login").addEventListener("click", logIn);
  $("new-person").addEventListener("click", () => { localStorage.removeItem(personKey()); logIn(); });
  $("logout").addEventListener("click", logOut);
  $("bind").addEventListener("click", bindRealName);
  $("bind-phone").addEventListener("click", bindPhone);
  loadConsentText();
  $("refresh-messages").addEventListener("click", loadMessages);
  $("bill-plant").addEventListener("click", plantDifference);
  $("bill-clear").addEventListener("click", async () => { await call("DELETE", "/_sandbox/bills/discrepancies"); await loadPlanted(); });
  loadPlanted();
}
start();
