// Custom contact fields (pure): the customer panel's inputs for the fields admins defined and
// the edit they make, and the admin form's request bodies. The server checks and normalises
// every value (docs/CONSOLE_API.md, "Contact fields"); these only shape what is sent.

export const FIELD_TYPES = ['text', 'number', 'date', 'boolean', 'choice'];

/** The email has its own line in the panel; the location's fields show as they are. */
const OWN = new Set(['email']);

/** A contact's custom fields split: `defined` [{def, value}] in the definitions' order, and
 *  `free` [[key, value]] of the keys nobody defined (shown as they are). */
export function splitFields(defs, fields) {
  const values = fields && typeof fields === 'object' ? fields : {};
  const list = Array.isArray(defs) ? defs : [];
  const known = new Set(list.map((d) => d.key));
  return {
    defined: list.map((def) => ({ def, value: Object.prototype.hasOwnProperty.call(values, def.key) ? String(values[def.key]) : '' })),
    free: Object.entries(values).filter(([k]) => !known.has(k) && !OWN.has(k)).map(([k, v]) => [k, String(v)]),
  };
}

/** The form's starting values of the defined fields (a boolean: `true`, `false` or ''). */
export function fieldValues(defs, fields) {
  const out = {};
  for (const { def, value } of splitFields(defs, fields).defined) {
    out[def.key] = def.type === 'boolean' ? (value === 'true' || value === 'false' ? value : '') : value;
  }
  return out;
}

/**
 * The `fields` of a contact edit: each defined field whose value changed, as typed (the server
 * checks it), `null` for one emptied. Null when nothing changed.
 */
export function fieldsPatch(defs, before, values) {
  const start = fieldValues(defs, before);
  const patch = {};
  let changed = false;
  for (const def of Array.isArray(defs) ? defs : []) {
    const raw = values && Object.prototype.hasOwnProperty.call(values, def.key) ? values[def.key] : start[def.key];
    const next = def.type === 'text' ? String(raw ?? '') : String(raw ?? '').trim();
    if (next === (start[def.key] ?? '')) continue;
    changed = true;
    if (next === '') patch[def.key] = null;
    else if (def.type === 'boolean') patch[def.key] = next === 'true';
    else patch[def.key] = next;
  }
  return changed ? patch : null;
}

/** Options as typed in the admin form: one a line, trimmed, empty lines dropped. */
export function parseOptions(text) {
  return String(text || '').split('\n').map((o) => o.trim()).filter((o) => o !== '');
}

/** The admin form of a definition (or of a new one). */
export function fieldForm(def) {
  return {
    key: (def && def.key) || '',
    label: (def && def.label) || '',
    type: (def && def.type) || 'text',
    options: ((def && def.options) || []).join('\n'),
    description: (def && def.description) || '',
  };
}

/**
 * The request body of the admin form: the whole definition for a new one; for a change only
 * what changed (the key and the type never change), or null when nothing did.
 */
export function fieldBody(form, before) {
  const label = String(form.label || '').trim();
  const description = String(form.description || '').trim();
  const options = parseOptions(form.options);
  if (!before) {
    const body = { key: String(form.key || '').trim(), label, type: form.type };
    if (form.type === 'choice') body.options = options;
    if (description) body.description = description;
    return body;
  }
  const body = {};
  if (label !== before.label) body.label = label;
  if (description !== (before.description || '')) body.description = description || null;
  if (before.type === 'choice' && options.join('\n') !== (before.options || []).join('\n')) body.options = options;
  return Object.keys(body).length ? body : null;
}

/** The server's refusal with a defined field's key (`fields.seats: …`) named by its label. */
export function namedRefusal(defs, text) {
  let out = String(text || '');
  for (const d of Array.isArray(defs) ? defs : []) out = out.split(`fields.${d.key}:`).join(`${d.label}:`);
  return out;
}
