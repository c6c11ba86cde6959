"use strict";
// Renders the OpenAPI document on /api/v1/docs; loaded as a file so the page needs no inline script.
function ref(schema, doc) {
  if (schema && schema.$ref) { return doc.components.schemas[schema.$ref.split('/').pop()]; }
  return schema;
}
function shape(schema, doc, depth) {
  schema = ref(schema, doc) || {};
  if (depth > 4) return '…';
  if (schema.type === 'array') return [shape(schema.items, doc, depth + 1)];
  if (schema.properties) {
    const out = {};
    for (const [k, v] of Object.entries(schema.properties)) out[k] = shape(v, doc, depth + 1);
    return out;
  }
  return schema.type || 'object';
}
function el(tag, cls, text) { const e = document.createElement(tag); if (cls) e.className = cls; if (text) e.textContent = text; return e; }
fetch('openapi.json').then(r => r.json()).then(doc => {
  const ops = document.getElementById('ops'); ops.textContent = '';
  for (const [path, methods] of Object.entries(doc.paths)) {
    for (const [method, op] of Object.entries(methods)) {
      const box = el('div', 'op');
      const head = el('div'); head.append(el('span', 'method ' + method, method), el('code', '', path));
      box.append(head, el('div', '', op.summary + (op.security ? ' (bearer token)' : '')));
      const params = (op.parameters || []).map(p => p.in + ' ' + p.name + (p.required ? ' (required)' : '')).join(', ');
      if (params) box.append(el('div', '', 'Parameters: ' + params));
      const d = el('details'); d.append(el('summary', '', 'Schemas and responses'));
      if (op.requestBody) {
        d.append(el('div', '', 'Body:'), el('pre', '', JSON.stringify(shape(op.requestBody.content['application/json'].schema, doc, 0), null, 2)));
      }
      for (const [status, resp] of Object.entries(op.responses)) {
        d.append(el('div', '', status + ': ' + resp.description));
        if (resp.content && !resp['x-error-codes']) {
          d.append(el('pre', '', JSON.stringify(shape(resp.content['application/json'].schema, doc, 0), null, 2)));
        }
      }
      box.append(d); ops.append(box);
    }
  }
  const table = document.getElementById('codes');
  for (const [code, info] of Object.entries(doc['x-error-codes'])) {
    const row = el('tr'); row.append(el('td', '', code), el('td', '', String(info.status)), el('td', '', info.description)); table.append(row);
  }
});
