"use strict";
// The tiles, tapped: each service's screens as a mini-program would show them, calling citytiles' resident API.

const yuan = (fen) => (typeof fen === "number" ? (fen / 100).toFixed(2) + " 元" : "—");
const cityPath = () => "/api/v1/cities/" + encodeURIComponent($("city").value);

function el(tag, props, ...children) {
  const node = document.createElement(tag);
  Object.assign(node, props || {});
  node.append(...children.filter((c) => c !== null && c !== undefined));
  return node;
}
function button(label, action) {
  return el("button", { type: "button", textContent: label, onclick: async () => { showError(""); try { await action(); } catch (e) { showError(e.message); } } });
}
function input(id, placeholder, value) { return el("input", { id, placeholder: placeholder || "", value: value || "" }); }
function field(label, control) { return el("label", {}, label + " ", control); }
function shown(data) { return el("pre", { textContent: JSON.stringify(data, null, 2) }); }
function panel(title, ...children) { $("service").replaceChildren(el("h2", { textContent: title }), ...children); }
function output() { return el("div", { className: "service-output" }); }

// Ask the resident to allow a notice, as wx.requestSubscribeMessage / my.requestSubscribeMessage would.
async function allowNotice(name) {
  const listed = await citytiles("GET", "/api/v1/notice-templates");
  const template = listed.templates.find((t) => t.name === name);
  if (!template) throw new Error("This app sends no " + name + " notice.");
  const body = listed.channel === "wechat"
    ? { app_id: listed.app_id, openid: state.user, template_id: template.template_id }
    : { app_id: listed.app_id, user_id: state.user, template_id: template.template_id };
  await call("POST", "/_sandbox/" + listed.channel + "/subscribe", body);
  return citytiles("POST", "/api/v1/me/notice-subscriptions", { templates: { [name]: "accept" } });
}

function housingFund() {
  const out = output();
  const show = (what) => async () => {
    const data = await citytiles("GET", cityPath() + "/housing-fund/" + what);
    const summary = what === "account" && data ? el("p", { textContent: "余额 " + yuan(data.balance_fen) + " · " + (data.status || "") }) : null;
    out.replaceChildren(...[summary, shown(data)].filter(Boolean));
  };
  panel("公积金查询 · Housing fund",
    el("p", { className: "muted", textContent: "Needs a verified real name (section 3). Seed an account with POST /_sandbox/housing-fund/accounts." }),
    button("Account", show("account")), button("Contribution records", show("records")), button("Loan", show("loan")),
    button("Who looked at my data", async () => out.replaceChildren(shown(await citytiles("GET", "/api/v1/me/data-access")))),
    out);
}

function carMove() {
  const out = output(), mine = output();
  let current = null;
  const showRequest = (data) => { current = data; out.replaceChildren(shown(data)); };
  const act = (verb) => async () => {
    if (!current) throw new Error("Send a request first.");
    showRequest(await citytiles(verb === "refresh" ? "GET" : "POST", "/api/v1/car-move-requests/" + encodeURIComponent(current.id) + (verb === "refresh" ? "" : "/" + verb), verb === "refresh" ? undefined : {}));
  };
  const answer = (id, value) => button(value, async () => { await citytiles("POST", "/api/v1/car-move-requests/" + encodeURIComponent(id) + "/answer", { answer: value }); await listMine(); });
  async function listMine() {
    const data = await citytiles("GET", "/api/v1/me/car-move-requests");
    const items = listOf(data, ["requests", "items"]);
    mine.replaceChildren(...items.map((r) => el("div", { className: "tile" }, el("b", { textContent: (r.plate || "") + " · " + (r.status || "") }),
      el("span", {}, answer(r.id, "moving"), answer(r.id, "not_mine"), answer(r.id, "complaint")))), shown(data));
  }
  panel("挪车 · Car move",
    el("h3", { textContent: "Ask an owner to move their car" }),
    field("Plate", input("cm-plate", "浙A12345")), field("Latitude", input("cm-lat", "", "30.2741")), field("Longitude", input("cm-lng", "", "120.1551")),
    field("Message", input("cm-message", "您的车挡住了出口")),
    button("Send", async () => showRequest(await citytiles("POST", cityPath() + "/car-move-requests", {
      plate: $("cm-plate").value.trim(), location: { lat: Number($("cm-lat").value), lng: Number($("cm-lng").value) }, message: $("cm-message").value.trim() || undefined,
    }))),
    button("Refresh", act("refresh")), button("Nudge", act("nudge")), button("Cancel", act("cancel")),
    button("My requests (here and by chat)", async () => {
      const data = await citytiles("GET", "/api/v1/me/sent-car-move-requests");
      const items = listOf(data, ["requests", "items"]);
      out.replaceChildren(...items.map((r) => el("div", { className: "tile" }, el("b", { textContent: (r.plate || "") + " · " + (r.status || "") + " · " + (r.id || "") }))), shown(data));
    }), out,
    el("h3", { textContent: "As the owner (another tab, another person)" }),
    field("My plate", input("cm-my-plate", "粤B12345")),
    button("Register my plate", async () => mine.replaceChildren(shown(await citytiles("POST", "/api/v1/me/vehicles", { city: $("city").value, plate: $("cm-my-plate").value.trim() })))),
    button("Allow car-move notices", async () => mine.replaceChildren(shown(await allowNotice("car_move_owner")))),
    button("Requests about my vehicles", listMine), mine);
}

function outpatient() {
  const out = output(), list = output();
  const today = new Date(Date.now() + 8 * 3600e3).toISOString().slice(0, 10);
  const hospitals = el("select", { id: "op-hospital" }), departments = el("select", { id: "op-department" });
  const loadDepartments = async () => {
    const data = await citytiles("GET", cityPath() + "/hospitals/" + encodeURIComponent(hospitals.value) + "/departments");
    departments.replaceChildren(...listOf(data, ["departments", "items"]).map((d) => new Option(d.name, d.id)));
  };
  hospitals.onchange = () => loadDepartments().catch((e) => showError(e.message));
  // Pay as wx.requestPayment / my.tradePay would: the payer pays in the channel, which notifies citytiles.
  const pay = (appointment) => button("Pay " + yuan(appointment.fee_fen), async () => {
    const payment = await citytiles("GET", "/api/v1/payments/" + encodeURIComponent(appointment.payment_id));
    await call("POST", "/_sandbox/" + (payment.channel === "wechat" ? "wechat-pay" : "alipay") + "/pay", { out_trade_no: payment.out_trade_no });
    await new Promise((done) => setTimeout(done, 1500)); // the notification, then the booking at the hospital
    showAppointment(await citytiles("GET", "/api/v1/appointments/" + encodeURIComponent(appointment.id)));
  });
  const paymentOf = (appointment) => button("Payment", async () => out.replaceChildren(shown(
    await citytiles("GET", "/api/v1/payments/" + encodeURIComponent(appointment.payment_id)))));
  const showAppointment = (a) => out.replaceChildren(...[
    a.status === "held" && a.payment_id ? pay(a) : null,
    a.payment_id ? paymentOf(a) : null,
    a.cancel_until ? el("p", { className: "muted", textContent: "Cancel until " + a.cancel_until + " for " + yuan(a.refund_on_cancel_fen) + " back" }) : null,
    shown(a),
  ].filter(Boolean));
  const hold = (slot) => button("Hold", async () => showAppointment(await citytiles("POST", "/api/v1/appointments", {
    city: $("city").value, hospital_id: hospitals.value, department_id: departments.value, slot_id: slot.id || slot.slot_id,
  })));
  panel("挂号 · Outpatient",
    button("Hospitals", async () => {
      const data = await citytiles("GET", cityPath() + "/hospitals");
      hospitals.replaceChildren(...listOf(data, ["hospitals", "items"]).map((h) => new Option(h.name, h.id)));
      await loadDepartments();
    }),
    field("Hospital", hospitals), field("Department", departments), field("Date", input("op-date", "YYYY-MM-DD", today)),
    button("Schedules", async () => {
      const data = await citytiles("GET", cityPath() + "/hospitals/" + encodeURIComponent(hospitals.value) + "/departments/" + encodeURIComponent(departments.value) + "/schedules?date=" + $("op-date").value);
      list.replaceChildren(...listOf(data, ["slots", "schedules", "items"]).map((s) => el("div", { className: "tile" },
        el("b", { textContent: [s.doctor, s.starts_at || s.start, yuan(s.fee_fen), "余 " + s.remaining].filter(Boolean).join(" · ") }), hold(s))));
    }),
    list,
    button("My appointments", async () => {
      const data = await citytiles("GET", "/api/v1/me/appointments");
      out.replaceChildren(...listOf(data, ["appointments", "items"]).map((a) => el("div", { className: "tile" },
        el("b", { textContent: [a.hospital_name || a.hospital_id, a.status, a.expires_at].filter(Boolean).join(" · ") }),
        a.status === "held" && a.payment_id ? pay(a) : null,
        a.payment_id ? paymentOf(a) : null,
        button("Cancel", async () => showAppointment(await citytiles("POST", "/api/v1/appointments/" + encodeURIComponent(a.id) + "/cancel", {}))))), shown(data));
    }),
    button("Allow appointment and payment notices", async () => {
      await allowNotice("appointment");
      out.replaceChildren(shown(await allowNotice("payment")));
    }),
    out);
}

const SERVICES = { housing_fund: housingFund, car_move: carMove, outpatient: outpatient };

function openService(code) {
  showError("");
  const open = SERVICES[code];
  if (open) open(); else panel(code, el("p", { className: "muted", textContent: "This sandbox page has no screen for this service yet." }));
  $("service").scrollIntoView({ behavior: "smooth" });
}
