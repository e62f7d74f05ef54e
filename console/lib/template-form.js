// Sending a WhatsApp template, pure: the fields a template's `form` asks for (from
// GET /api/v1/conversations/{id}/templates), the person's values as the request's `header`,
// `body` and `buttons` (POST /api/v1/conversations/{id}/messages {template}, POST
// /api/v1/templates/preview), and a draft preview with the values given so far (the server's
// preview replaces it once every value is there). Tested by tools/test-inbox.mjs.

/** Media header formats and the request's key for each. */
const MEDIA = { IMAGE: 'image', VIDEO: 'video', DOCUMENT: 'document' };

/** The placeholder of a parameter as the template writes it: `{{1}}`, `{{first_name}}`. */
export function placeholder(name) {
  return `{{${name}}}`;
}

/**
 * The fields to fill, in order: `{key, kind, name?, index?, subType?, format?, text?, required}`.
 * kind: `header-text` (a TEXT header's parameter), `header-media` (an IMAGE, VIDEO or DOCUMENT
 * header: a link or a media id), `body` (one per parameter), `button` (a URL's suffix, a
 * quick reply's payload, a coupon or a one-time code).
 */
export function fieldsOf(form) {
  if (!form) return [];
  const fields = [];
  const header = form.header;
  if (header && header.format === 'TEXT' && header.parameter) {
    fields.push({ key: 'header', kind: 'header-text', name: header.parameter, text: header.text || '', required: true });
  } else if (header && MEDIA[header.format]) {
    fields.push({ key: 'header', kind: 'header-media', format: header.format, required: true });
  }
  for (const name of form.body_parameters || []) {
    fields.push({ key: 'body:' + name, kind: 'body', name, required: true });
  }
  for (const b of form.buttons || []) {
    if (!b.sub_type) continue;
    fields.push({ key: 'button:' + b.index, kind: 'button', index: b.index, subType: b.sub_type, buttonType: b.type, text: b.text || '', url: b.url || null, required: !!b.required });
  }
  return fields;
}

/** Whether a form has an unsupported header (a location): such a template cannot be sent here. */
export function unsupported(form) {
  return !!(form && form.header && form.header.format !== 'TEXT' && !MEDIA[form.header.format]);
}

/**
 * The request's template: `{name, language, header?, body?, buttons?}` from `values` (by field
 * key; `headerSource` is `link` or `id` for a media header). Empty values are left out, so the
 * server names what is missing; positional values keep their places (a gap is sent empty).
 */
export function fillOf(template, values, headerSource = 'link') {
  const form = template.form || {};
  const out = { name: template.name, language: template.language };
  const value = (key) => (typeof values[key] === 'string' ? values[key] : '');
  const header = form.header;
  if (header && header.format === 'TEXT' && header.parameter && value('header').trim()) {
    out.header = { text: value('header') };
  } else if (header && MEDIA[header.format] && value('header').trim()) {
    out.header = { [MEDIA[header.format]]: { [headerSource === 'id' ? 'id' : 'link']: value('header').trim() } };
  }
  const names = form.body_parameters || [];
  if (names.length) {
    if (form.parameter_format === 'NAMED') {
      const body = {};
      for (const name of names) if (value('body:' + name) !== '') body[name] = value('body:' + name);
      if (Object.keys(body).length) out.body = body;
    } else {
      const list = names.map((name) => value('body:' + name));
      while (list.length && list[list.length - 1] === '') list.pop();
      if (list.length) out.body = list;
    }
  }
  const buttons = [];
  for (const b of form.buttons || []) {
    if (b.sub_type && value('button:' + b.index).trim()) {
      buttons.push({ index: b.index, sub_type: b.sub_type, value: value('button:' + b.index).trim() });
    }
  }
  if (buttons.length) out.buttons = buttons;
  return out;
}

/** Whether every required field has a value. */
export function complete(template, values) {
  return fieldsOf(template && template.form).every((f) => !f.required || (typeof values[f.key] === 'string' && values[f.key].trim() !== ''));
}

/** `text` with each placeholder replaced by its value in `byName`, left as it is without one. */
function substitute(text, byName) {
  return String(text || '').replace(/\{\{\s*([A-Za-z0-9_]+)\s*\}\}/g, (whole, name) => {
    const v = byName[name];
    return typeof v === 'string' && v !== '' ? v : whole;
  });
}

/**
 * A preview in the server's shape (`{header?, body, footer?, buttons}`) from the values given so
 * far: what the customer would see, with `{{placeholders}}` where a value is missing.
 */
export function draftPreview(template, values) {
  const form = (template && template.form) || {};
  const value = (key) => (typeof values[key] === 'string' ? values[key] : '');
  const body = {};
  for (const name of form.body_parameters || []) body[name] = value('body:' + name);
  let header = null;
  if (form.header && form.header.format === 'TEXT') {
    const byName = form.header.parameter ? { [form.header.parameter]: value('header') } : {};
    header = { format: 'TEXT', text: substitute(form.header.text, byName) };
  } else if (form.header) {
    header = { format: form.header.format };
  }
  const buttons = (form.buttons || []).map((b) => {
    const v = value('button:' + b.index).trim();
    const out = { type: b.type, text: b.text || b.type };
    if (b.url) {
      const names = {};
      String(b.url).replace(/\{\{\s*([A-Za-z0-9_]+)\s*\}\}/g, (whole, name) => {
        names[name] = v;
        return whole;
      });
      out.url = substitute(b.url, names);
    }
    return out;
  });
  return { header, body: substitute(form.body, body), footer: form.footer || null, buttons };
}
