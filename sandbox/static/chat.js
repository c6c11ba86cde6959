"use strict";
// The chat pane: the logged-in resident writes to the WeChat official account or the Alipay life account. The sandbox
// plays the platform (POST /_sandbox/chat pushes to citytiles and reads its answer); customer-service messages that
// citytiles sends later are read from GET /_sandbox/messages every 2 s.

const chat = { user: null, account: null, login: null, seen: new Set(), timer: null };
// Where "Send location" says the resident is: near the chosen city.
const PLACES = {
  hangzhou: { latitude: 30.2741, longitude: 120.1551, label: "杭州市西湖区" },
  shenzhen: { latitude: 22.5431, longitude: 114.0579, label: "深圳市福田区" },
};
// What the user sees when the platform could not get an answer it accepts.
const UNAVAILABLE = { wechat: "该公众号暂时无法提供服务，请稍后再试", alipay: "该生活号暂时无法提供服务，请稍后再试" };

function chatAccount() {
  const [channel, app_id] = $("chat-account").value.split(":");
  return { channel, app_id };
}

function chatLine(who, text, detail) {
  const log = $("chat-log");
  if (log.querySelector("p.muted")) log.replaceChildren();
  const line = el("div", { className: "chat-line chat-" + who }, text, detail ? el("small", { textContent: detail }) : null);
  log.append(line);
  log.scrollTop = log.scrollHeight;
  return line;
}

function chatReset() {
  chat.user = null; chat.seen = new Set();
  $("chat-log").replaceChildren(el("p", { className: "muted", textContent: "No messages yet." }));
}

// The person logged in on the page, named by their mini-program identity; the sandbox finds their id in the account.
function chatPerson(channel) {
  const login = state.login;
  if (!login || login.channel !== channel) {
    throw new Error("Log in through the " + (channel === "wechat" ? "WeChat" : "Alipay") + " mini-program first (section 2): you chat as that person.");
  }
  return channel === "wechat" ? { app_id: login.app_id, openid: login.user } : { app_id: login.app_id, open_id: login.open_id };
}

async function chatSend(what, shown) {
  showError("");
  let mine = null;
  try {
    const { channel, app_id } = chatAccount();
    const person = chatPerson(channel);
    const who = $("chat-account").value + "|" + state.login.user;
    if (chat.login !== who) { chatReset(); chat.login = who; }
    const body = { channel, app_id, person, ...what };
    if (channel === "wechat") body.encrypted = $("chat-encrypted").checked;
    mine = chatLine("me", shown, "sending…");
    const answer = await call("POST", "/_sandbox/chat", body);
    chat.user = answer.user;
    const tries = answer.tries.length > 1 ? " after " + answer.tries.length + " tries" : "";
    mine.querySelector("small").textContent = (answer.outcome === "failed" ? "not delivered" : "delivered") + tries;
    if (answer.outcome === "replied") {
      chatLine("account", answer.reply.content || "[" + answer.reply.msg_type + "]", "passive reply");
    } else if (answer.outcome === "failed") {
      chatLine("failed", UNAVAILABLE[channel], answer.reason);
    }
    if (!chat.timer) chat.timer = setInterval(chatPoll, 2000);
  } catch (e) {
    if (mine) mine.querySelector("small").textContent = "not sent";
    showError(e.message);
  }
}

async function chatPoll() {
  if (!chat.user) return;
  const { channel, app_id } = chatAccount();
  try {
    const data = await call("GET", "/_sandbox/messages?channel=" + channel + "&user=" + encodeURIComponent(chat.user));
    for (const message of data.messages) {
      if (message.kind !== "customer_service" || message.app_id !== app_id || chat.seen.has(message.msgid)) continue;
      chat.seen.add(message.msgid);
      chatLine("account", message.text, "customer-service message · " + message.sent_at);
    }
  } catch (e) { showError(e.message); }
}

function chatPlace() {
  const picked = $("city").selectedOptions[0];
  const city = ($("city").value + " " + (picked ? picked.textContent : "")).toLowerCase();
  return city.includes("4403") || city.includes("深圳") || city.includes("shenzhen") ? PLACES.shenzhen : PLACES.hangzhou;
}

function chatMatchChannel() {
  const wanted = [...$("chat-account").options].find((o) => o.value.startsWith($("channel").value + ":"));
  if (wanted) $("chat-account").value = wanted.value;
  chatAccountChanged();
}

function chatAccountChanged() {
  $("chat-encrypted-label").hidden = chatAccount().channel !== "wechat";
  if (chat.account !== $("chat-account").value) { chat.account = $("chat-account").value; chat.login = null; chatReset(); }
}

async function startChat() {
  let config;
  try { config = await call("GET", "/_sandbox/config"); } catch (e) { return; } // page.js reports it
  const accounts = [
    ...config.wechat_apps.filter((a) => a.kind === "official_account").map((a) => ["wechat:" + a.app_id, a.name + " · " + a.app_id]),
    ...config.alipay_apps.filter((a) => a.kind === "life_account").map((a) => ["alipay:" + a.app_id, a.name + " · " + a.app_id]),
  ];
  $("chat-account").replaceChildren(...accounts.map(([value, name]) => new Option(name, value)));
  chatMatchChannel();
  $("channel").addEventListener("change", chatMatchChannel);
  $("chat-account").addEventListener("change", chatAccountChanged);
  $("chat-follow").addEventListener("click", () => chatSend({ event: { type: "subscribe" } }, "[关注]"));
  $("chat-unfollow").addEventListener("click", () => chatSend({ event: { type: "unsubscribe" } }, "[取消关注]"));
  $("chat-location").addEventListener("click", () => { const place = chatPlace(); chatSend({ location: place }, "📍 " + place.label); });
  document.querySelectorAll("[data-menu-key]").forEach((item) => item.addEventListener("click",
    () => chatSend({ event: { type: "click", key: item.dataset.menuKey } }, "[菜单] " + item.textContent)));
  const sendText = () => {
    const text = $("chat-text").value.trim();
    if (!text) return;
    $("chat-text").value = "";
    chatSend({ text }, text);
  };
  $("chat-send").addEventListener("click", sendText);
  $("chat-text").addEventListener("keydown", (event) => { if (event.key === "Enter") sendText(); });
}
startChat();
