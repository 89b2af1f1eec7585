import fc from 'fast-check';

/**
 * Generators of hostile request parts for the fuzz suite, each of which knows
 * (by construction) whether the part is acceptable to the contract. JSON is
 * produced as text, so values JSON.stringify cannot write (1e400, -0,
 * 30-digit integers, duplicate keys, 20 000-deep nesting) can be sent.
 */

/**
 * FUZZ_EXCLUDE=<family>,...: leaves out inputs of a family, to look past a
 * known bug while it is being fixed. Never set it in CI. Families:
 * proto-keys (unknown fields named after Object.prototype members),
 * deep-nesting (JSON nested deeper than 64), nul-keys (NUL in unknown field
 * names), router-errors (undecodable paths, path parameters over 100
 * characters), client-errors (malformed HTTP over the socket), length-count
 * (strings over a maxLength in code points that validator.js counts shorter).
 */
export const EXCLUDED = new Set(
  (process.env.FUZZ_EXCLUDE ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean),
);

/** Names every object has through Object.prototype (and `prototype`): a lookup in a plain object finds them. */
export const PROTOTYPE_NAMES = [
  'constructor',
  'hasOwnProperty',
  'toString',
  'valueOf',
  'isPrototypeOf',
  'propertyIsEnumerable',
  'toLocaleString',
  '__defineGetter__',
  '__defineSetter__',
  '__lookupGetter__',
  '__lookupSetter__',
  '__proto__',
  'prototype',
];

/** Keeps unknown-key names of the excluded families out. */
export const allowedKey = (key: string) =>
  !(EXCLUDED.has('proto-keys') && PROTOTYPE_NAMES.includes(key)) && !(EXCLUDED.has('nul-keys') && key.includes('\u0000'));

// ------------------------------------------------------------------ strings

/** Characters every string generator mixes in: controls, quotes, escapes, RTL, emoji, replacement, BOM. */
const NASTY_CHARS = [
  '\t',
  '\n',
  '\r',
  '"',
  "'",
  '\\',
  '/',
  '<',
  '>',
  '&',
  '%',
  '{',
  '}',
  '\u202e',
  '\u00e9',
  '\u4e2d',
  '😀',
  '\ufffd',
  '\ufeff',
  '\u2028',
  '\u0085',
];

/** Printable text without NUL, at most `max` UTF-16 units (so at most `max` characters by any count). */
export function text(max: number, min = 0): fc.Arbitrary<string> {
  return fc
    .array(
      fc.oneof(
        { weight: 6, arbitrary: fc.string({ unit: 'grapheme-ascii', maxLength: 4 }) },
        { weight: 1, arbitrary: fc.constantFrom(...NASTY_CHARS) },
      ),
      {
        maxLength: Math.max(1, Math.ceil(max / 2)),
      },
    )
    .map((parts) => parts.join('').replaceAll('\u0000', ''))
    .map((s) => (s.length > max ? s.slice(0, max) : s))
    .map((s) => s.replace(/[\ud800-\udbff]$/, '')) // never end on half a surrogate pair after slicing
    .filter((s) => s.length >= min);
}

/** Any string, lone surrogates included (the server sees U+FFFD for those), without NUL. */
export const anyString = (maxLength = 40) => fc.string({ unit: 'binary', maxLength }).map((s) => s.replaceAll('\u0000', '\ufffd'));

/** Strings that are empty once trimmed (String.prototype.trim's whitespace). */
export const blank = fc
  .array(fc.constantFrom(' ', '\t', '\n', '\r', '\u00a0', '\u2003', '\u3000', '\ufeff', '\u2028'), { minLength: 1, maxLength: 12 })
  .map((parts) => parts.join(''));

/** ASCII text longer than `max` by any way of counting (each unit one character). */
export const tooLong = (max: number, extra = 3_000) =>
  fc
    .tuple(fc.integer({ min: max + 1, max: max + extra }), fc.constantFrom('x', 'ab', '9', 'Ω', '-_'))
    .map(([n, unit]) => unit.repeat(n).slice(0, n));

/**
 * Strings longer than `max` characters (code points, as JSON Schema's
 * maxLength and PostgreSQL's varchar count them) that some length counters
 * take for shorter ones: each "a\uFE0F" is two code points, and validator.js
 * does not count the U+FE0F. Used for fields the service stores.
 */
export const variationSelectorOverflow = (max: number) => fc.integer({ min: Math.floor(max / 2) + 1, max }).map((n) => 'a\ufe0f'.repeat(n));

/** A string containing NUL somewhere (PostgreSQL cannot store it; the service must refuse it). */
export const withNul = fc.tuple(text(20), text(20)).map(([a, b]) => `${a}\u0000${b}`);

/** Percent-encodes every byte outside the unreserved set, as UTF-8 (lone surrogates become U+FFFD). */
export function percentEncode(value: string): string {
  let out = '';
  for (const byte of Buffer.from(value, 'utf8')) {
    const c = String.fromCharCode(byte);
    out += /[A-Za-z0-9\-._~]/.test(c) ? c : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

/** What the server decodes from `percentEncode(value)`. */
export const asReceived = (value: string) => Buffer.from(value, 'utf8').toString('utf8');

// ------------------------------------------------------------------ JSON text

export const jsonString = (s: string) => JSON.stringify(s);

/** Arrays or objects nested `depth` deep, as text (2 or 6 bytes per level). */
export const deepNest = fc
  .tuple(
    EXCLUDED.has('deep-nesting')
      ? fc.integer({ min: 1, max: 64 })
      : fc.oneof(fc.integer({ min: 1, max: 64 }), fc.integer({ min: 64, max: 4_000 }), fc.integer({ min: 4_000, max: 30_000 })),
    fc.boolean(),
  )
  .map(([depth, arrays]) =>
    arrays ? '['.repeat(depth) + ']'.repeat(depth) : '{"a":'.repeat(Math.min(depth, 10_000)) + '1' + '}'.repeat(Math.min(depth, 10_000)),
  );

/** Number tokens JSON.stringify cannot write: each parses to ±Infinity, a huge value, or a value in [-1, 1]. */
export const HUGE_NUMBER_TOKENS = [
  '1e400',
  '-1e400',
  '1e309',
  '-1e309',
  '1E+999',
  '123456789012345678901234567890',
  '-98765432109876543210987654321',
  '1' + '0'.repeat(400),
];

/** Any JSON value as text: the hostile alphabet for unknown fields and wrong types. */
export const anyJsonText: fc.Arbitrary<string> = fc.oneof(
  { weight: 5, arbitrary: fc.jsonValue({ maxDepth: 3 }).map((v) => JSON.stringify(v) ?? 'null') },
  { weight: 1, arbitrary: fc.constantFrom(...HUGE_NUMBER_TOKENS, '-0', '0.0e0', '1E2', 'true', 'false', 'null', '[]', '{}', '""') },
  { weight: 1, arbitrary: deepNest },
  { weight: 1, arbitrary: tooLong(200, 20_000).map(jsonString) },
  { weight: 1, arbitrary: fc.constantFrom('"NaN"', '"Infinity"', '"-Infinity"', '"1e400"', '"-0"', '"0x10"', '" 12 "') },
  { weight: 1, arbitrary: withNul.map(jsonString) },
);

/** Wrong-type values for a field of a given type, as text. */
const notString = fc.oneof(
  fc.integer().map(String),
  fc.double({ noNaN: true, noDefaultInfinity: true }).map((x) => JSON.stringify(x)),
  fc.constantFrom('true', 'false', '[]', '{}', '["a"]', '{"a":"b"}', '[null]', ...HUGE_NUMBER_TOKENS),
  deepNest,
);
const notNumber = fc.oneof(
  fc.constantFrom(
    '"NaN"',
    '"Infinity"',
    '"-Infinity"',
    '"1"',
    '"52.52"',
    '"-0"',
    '""',
    '"1e400"',
    'true',
    'false',
    '[]',
    '[1]',
    '{}',
    '{"lat":1}',
    '[52.5,13.4]',
  ),
  text(30).map(jsonString),
  deepNest,
);
const notBoolean = fc.oneof(
  fc.constantFrom('"true"', '"false"', '0', '1', '"yes"', '[]', '{}', '[true]', '""', '"1"'),
  fc.integer().map(String),
  deepNest,
);

// ------------------------------------------------------------------ DTO fields

export type FieldType =
  | { type: 'string'; max: number; trim: boolean; nonEmpty: boolean; valid?: fc.Arbitrary<string>; stored?: boolean }
  | { type: 'number'; min: number; max: number }
  | { type: 'int'; min: number; max: number }
  | { type: 'uuid'; valid: fc.Arbitrary<string> }
  | { type: 'boolean' }
  | { type: 'enum'; values: readonly string[] }
  | { type: 'phone'; valid: fc.Arbitrary<string> }
  | { type: 'datetime' }
  /** A JSON array of `min`–`max` objects of schema `of` (a batch). */
  | { type: 'array'; of: Schema; min: number; max: number };

/**
 * required: must be there, null refused. optional: may be left out, null
 * accepted as "not given" (IsOptional). omittable: may be left out, null
 * refused. pair: optional, but only together with the other field of the same
 * pair name (dropoffLat/dropoffLon), null refused.
 */
export type Presence = 'required' | 'optional' | 'omittable' | { pair: string };

export interface FieldSpec {
  field: FieldType;
  presence: Presence;
}
export type Schema = Record<string, FieldSpec>;

/** One `"key": value` of a JSON object, and whether the value is one the contract accepts. */
export interface Entry {
  key: string;
  text: string;
  ok: boolean;
}

const E164 = /^\+[1-9]\d{6,14}$/;

/** Phone numbers no reading of E.164 accepts. */
export const badPhone = fc.oneof(
  fc.constantFrom(
    '',
    '+',
    '0',
    '+0123456789',
    '4915112345678',
    '+49 151 1234567',
    '+49-151-1234567',
    '(030) 1234567',
    '+1234567890123456789',
    '++4915112345678',
    '+49151123456a',
    '+١٢٣٤٥٦٧٨٩',
  ),
  fc.string({ maxLength: 30 }).filter((s) => !/^\+?[\d\s\-().]*$/.test(s)),
  fc.integer({ min: 16, max: 60 }).map((n) => `+4${'9'.repeat(n)}`),
);

/** Date-times the contract does not accept: not ISO-8601 with an offset, impossible dates, long ago, or the far future. */
const badDateTime = fc
  .oneof(
    fc.constantFrom(
      '',
      'yesterday',
      'now',
      '2026-01-01',
      '2026-01-01T12:00:00',
      '2026-01-01 12:00:00Z',
      '2026-02-30T12:00:00Z',
      '2026-13-01T12:00:00Z',
      '2026-01-01T24:00:00Z',
      '2026-01-01T12:60:00Z',
      '2026-01-01T12:00:00+25:00',
      '+275760-09-13T00:00:00.000Z',
      'Thu, 01 Jan 2026 00:00:00 GMT',
      '1767225600000',
    ),
    fc.integer({ min: 1, max: 900 }).map((years) => new Date(Date.now() + 86_400_000 + years * 3.15e10).toISOString().replace(/^\+0*/, '')),
    text(30).filter((s) => !/^\d{4}-\d{2}-\d{2}T/.test(s)),
  )
  .filter((s) => !/^\+/.test(s) || s.startsWith('+275760'));

/** A value the field accepts, as text (never borderline: short, finite, in range). */
export function validText(field: FieldType): fc.Arbitrary<string> {
  switch (field.type) {
    case 'string': {
      const base = field.valid ?? text(Math.min(40, Math.floor(field.max / 2)), 0);
      return base.map((s) => (field.nonEmpty && s.trim() === '' ? `x${s}` : s)).map(jsonString);
    }
    case 'number':
      return fc
        .tuple(
          fc.double({ min: field.min, max: field.max, noNaN: true, noDefaultInfinity: true }),
          fc.constantFrom('plain', 'exp', 'negzero'),
        )
        .map(([x, form]) =>
          form === 'negzero' && field.min <= 0 && field.max >= 0 ? '-0' : form === 'exp' ? x.toExponential() : JSON.stringify(x),
        );
    case 'int':
      return fc.integer({ min: field.min, max: field.max }).map(String);
    case 'uuid':
      return field.valid.map(jsonString);
    case 'boolean':
      return fc.boolean().map(String);
    case 'enum':
      return fc.constantFrom(...field.values).map(jsonString);
    case 'phone':
      return field.valid.map(jsonString);
    case 'datetime':
      return fc.integer({ min: 0, max: 7 * 86_400_000 }).map((ago) => jsonString(new Date(Date.now() - 60_000 - ago).toISOString()));
    case 'array':
      return fc
        .array(validItem(field.of), { minLength: field.min, maxLength: Math.min(field.max, 4) })
        .map((items) => `[${items.join(',')}]`);
  }
}

/** An object of `schema` the contract accepts, as text. */
const validItem = (schema: Schema) =>
  jsonBody(schema, { invalidWeight: 1 })
    .filter((plan) => plan.ok && plan.text.startsWith('{'))
    .map((plan) => plan.text);

/** An array field refused for its length or for one item, as text. */
function invalidArray(field: Extract<FieldType, { type: 'array' }>): fc.Arbitrary<string> {
  const tooMany = validItem(field.of).map((item) => `[${Array.from({ length: field.max + 1 }, () => item).join(',')}]`);
  const oneBad = fc
    .tuple(
      fc.array(validItem(field.of), { maxLength: 3 }),
      jsonBody(field.of).filter((plan) => !plan.ok),
      fc.nat(),
    )
    .map(([good, bad, at]) => {
      const items = [...good];
      items.splice(at % (good.length + 1), 0, bad.text);
      return `[${items.join(',')}]`;
    });
  return fc.oneof(
    ...(field.min > 0 ? [fc.constant('[]')] : []),
    tooMany,
    oneBad,
    fc.constantFrom('"points"', '42', 'true', '{}', '{"0":{}}', '[null]', '[[]]', '["a"]', '[1]'),
  );
}

/** A value the field refuses, as text. `nullable`: null counts as "not given" for this field. */
export function invalidText(field: FieldType, nullable: boolean): fc.Arbitrary<string> {
  const nul = nullable ? [] : [fc.constant('null')];
  switch (field.type) {
    case 'string': {
      const options: fc.Arbitrary<string>[] = [notString, ...nul, tooLong(field.max).map(jsonString), withNul.map(jsonString)];
      if (field.nonEmpty) options.push(fc.constant('""'));
      if (field.nonEmpty && field.trim) options.push(blank.map(jsonString));
      if (field.stored && !EXCLUDED.has('length-count')) options.push(variationSelectorOverflow(field.max).map(jsonString));
      return fc.oneof(...options);
    }
    case 'number':
      return fc.oneof(
        notNumber,
        ...nul,
        fc.constantFrom(...HUGE_NUMBER_TOKENS.filter((t) => Math.abs(Number(t)) > Math.max(Math.abs(field.min), Math.abs(field.max)))),
        fc
          .double({ min: field.max, max: 1e300, noNaN: true, noDefaultInfinity: true })
          .filter((x) => x > field.max)
          .map((x) => JSON.stringify(x)),
        fc
          .double({ min: -1e300, max: field.min, noNaN: true, noDefaultInfinity: true })
          .filter((x) => x < field.min)
          .map((x) => JSON.stringify(x)),
      );
    case 'uuid':
      return fc.oneof(
        notString,
        ...nul,
        withNul.map(jsonString),
        fc
          .uuid({ version: 4 })
          .chain((u) => fc.constantFrom(`${u}0`, u.replace(/-/g, ''), u.slice(1), ` ${u}`, `{${u}}`))
          .map(jsonString),
        anyString(40)
          .filter((v) => !/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(v))
          .map(jsonString),
      );
    case 'int':
      return fc.oneof(
        notNumber,
        ...nul,
        fc.integer({ min: field.min, max: field.max - 1 }).map((n) => `${n}.5`),
        fc.integer({ min: field.max + 1, max: Number.MAX_SAFE_INTEGER }).map(String),
        fc.integer({ min: Number.MIN_SAFE_INTEGER, max: field.min - 1 }).map(String),
        fc.constantFrom('1e300', '-1e300', '1.0000001'),
      );
    case 'boolean':
      return fc.oneof(notBoolean, ...nul);
    case 'enum':
      return fc.oneof(
        // (A lowercase enum's value lowercased is itself: not a near-miss.)
        fc
          .constantFrom(...field.values)
          .chain((v) => fc.constantFrom(v.toLowerCase(), ` ${v}`, `${v} `, `${v}\u0000`, `${v}x`, v.slice(1), `["${v}"]`))
          .filter((v) => !field.values.includes(v))
          .map((v) => (v.startsWith('[') ? v : jsonString(v))),
        fc
          .constantFrom('BUSY', 'ASSIGNED', 'UNKNOWN', '', 'null', 'available', 'Available')
          .filter((v) => !field.values.includes(v))
          .map(jsonString),
        anyString(20)
          .filter((v) => !field.values.includes(v))
          .map(jsonString),
        notString.filter((t) => !field.values.map(jsonString).includes(t)),
        ...nul,
      );
    case 'phone':
      return fc.oneof(badPhone.filter((p) => !E164.test(p)).map(jsonString), notString, ...nul, withNul.map(jsonString));
    case 'datetime':
      return fc.oneof(badDateTime.map(jsonString), notString, ...nul, withNul.map(jsonString));
    case 'array':
      return fc.oneof(invalidArray(field), ...nul);
  }
}

/** Keys an object of this schema must not have (unknown fields), including Object.prototype's names and near-misses. */
export function unknownKey(schema: Schema): fc.Arbitrary<string> {
  const known = Object.keys(schema);
  return fc
    .oneof(
      fc.constantFrom(
        // Not __proto__: as a computed key it would set the test object's prototype instead of a field.
        ...PROTOTYPE_NAMES.filter((name) => name !== '__proto__'),
        'id',
        'token',
        'tokenHash',
        'token_hash',
        'status',
        'isAdmin',
        'createdAt',
        'driverId',
        '',
      ),
      // Near-misses of the known names (a schema with no fields has none).
      ...(known.length > 0
        ? [
            fc
              .constantFrom(...known)
              .chain((k) => fc.constantFrom(k.toUpperCase(), `${k} `, ` ${k}`, `${k}_`, `${k}\u0000`, `${k}.x`, `${k}[0]`)),
          ]
        : []),
      anyString(24),
    )
    .filter((k) => !known.includes(k) && k !== '__proto__' && allowedKey(k));
}

// ------------------------------------------------------------------ JSON bodies

export interface BodyPlan {
  /** The exact JSON text sent. */
  text: string;
  /** The contract accepts this JSON (once parsed) as this route's body. */
  ok: boolean;
  /** Accepted fields as the server parses them (the last occurrence of a key wins). */
  values: Record<string, unknown>;
  note: string;
}

function hasRequired(schema: Schema): boolean {
  return Object.values(schema).some((f) => f.presence === 'required');
}

/**
 * JSON bodies for `schema`: mostly objects built from valid and invalid
 * fields, missing required ones, unknown and duplicated keys, in any order;
 * sometimes a non-object. `ok` is computed from the construction: every field
 * valid in its last occurrence, nothing required missing, no unknown key,
 * pairs complete.
 */
export function jsonBody(schema: Schema, options: { invalidWeight?: number } = {}): fc.Arbitrary<BodyPlan> {
  const invalidWeight = options.invalidWeight ?? 2;
  const fieldArbs = Object.entries(schema).map(([key, spec]) => {
    const nullable = spec.presence === 'optional';
    const valid = validText(spec.field).map((t): Entry => ({ key, text: t, ok: true }));
    const invalid = invalidText(spec.field, nullable).map((t): Entry => ({ key, text: t, ok: false }));
    const value = fc.oneof({ weight: 3, arbitrary: valid }, { weight: invalidWeight, arbitrary: invalid });
    const maybeNull = nullable ? [{ weight: 1, arbitrary: fc.constant<Entry>({ key, text: 'null', ok: true }) }] : [];
    const present = fc.oneof(...[{ weight: 4, arbitrary: value }, ...maybeNull]);
    // A duplicate key: JSON.parse keeps the last one, so the first may be anything.
    const duplicated = fc.tuple(fc.oneof(valid, invalid), present).map(([first, last]) => [first, last]);
    return spec.presence === 'required'
      ? fc.oneof(
          { weight: 8, arbitrary: present.map((e) => [e]) },
          { weight: 1, arbitrary: fc.constant<Entry[]>([]) },
          { weight: 1, arbitrary: duplicated },
        )
      : fc.oneof(
          { weight: 3, arbitrary: present.map((e) => [e]) },
          { weight: 3, arbitrary: fc.constant<Entry[]>([]) },
          { weight: 1, arbitrary: duplicated },
        );
  });
  const extras = fc.array(
    fc.tuple(unknownKey(schema), anyJsonText).map(([key, t]): Entry => ({ key, text: t, ok: false })),
    { maxLength: 3 },
  );
  const object = fc
    .tuple(
      fc.tuple(...fieldArbs),
      fc.oneof({ weight: 3, arbitrary: fc.constant<Entry[]>([]) }, { weight: 2, arbitrary: extras }),
      fc.nat(),
      fc.constantFrom('', ' ', '\n  '),
    )
    .map(([fields, extra, seed, space]) => {
      const entries = shuffle([...fields.flat(), ...extra], seed);
      const text = `{${space}${entries.map((e) => `${jsonString(e.key)}:${space}${e.text}`).join(`,${space}`)}${space}}`;
      return classify(schema, entries, text);
    });
  const nonObject = fc
    .oneof(
      fc.constantFrom('[]', '[{}]', '"a"', '42', '-0', 'true', 'false', '1e400', '""'),
      fc.array(anyJsonText, { maxLength: 3 }).map((items) => `[${items.join(',')}]`),
      anyJsonText.filter((t) => !t.startsWith('{') && t !== 'null'),
    )
    .map((text): BodyPlan => ({ text, ok: false, values: {}, note: 'not an object' }));
  const nullBody = fc.constant<BodyPlan>({ text: 'null', ok: !hasRequired(schema), values: {}, note: 'null body' });
  return fc.oneof({ weight: 12, arbitrary: object }, { weight: 1, arbitrary: nonObject }, { weight: 1, arbitrary: nullBody });
}

function shuffle<T>(items: T[], seed: number): T[] {
  const out = [...items];
  let s = seed || 1;
  for (let i = out.length - 1; i > 0; i--) {
    s = (s * 1_103_515_245 + 12_345) % 2_147_483_648;
    const j = s % (i + 1);
    [out[i], out[j]] = [out[j], out[i]];
  }
  return out;
}

function classify(schema: Schema, entries: Entry[], text: string): BodyPlan {
  const last = new Map<string, Entry>();
  for (const entry of entries) last.set(entry.key, entry);
  const problems: string[] = [];
  for (const [key, entry] of last) {
    if (!Object.prototype.hasOwnProperty.call(schema, key)) problems.push(`unknown ${JSON.stringify(key)}`);
    else if (!entry.ok) problems.push(`bad ${key}`);
  }
  const pairs = new Map<string, boolean[]>();
  for (const [key, spec] of Object.entries(schema)) {
    const present = last.has(key);
    if (spec.presence === 'required' && !present) problems.push(`missing ${key}`);
    if (typeof spec.presence === 'object') pairs.set(spec.presence.pair, [...(pairs.get(spec.presence.pair) ?? []), present]);
  }
  for (const [pair, present] of pairs) if (present.some(Boolean) && !present.every(Boolean)) problems.push(`half of ${pair}`);
  const values: Record<string, unknown> = {};
  for (const [key, entry] of last) if (entry.ok && Object.prototype.hasOwnProperty.call(schema, key)) values[key] = JSON.parse(entry.text);
  return { text, ok: problems.length === 0, values, note: problems.join(', ') || 'valid' };
}

// ------------------------------------------------------------------ JSON transport

/**
 * What the server's JSON parser makes of `text`: the value, or that it refuses
 * it (not JSON, or a prototype-poisoning `__proto__` / `constructor.prototype`
 * key anywhere, which Fastify's secure-json-parse rejects).
 */
export function parseAsServer(text: string): { ok: true; value: unknown } | { ok: false } {
  let value: unknown;
  try {
    value = JSON.parse(text.replace(/^\ufeff/, ''));
  } catch {
    return { ok: false };
  }
  const stack: unknown[] = [value];
  while (stack.length > 0) {
    const node = stack.pop();
    if (typeof node !== 'object' || node === null) continue;
    if (Object.prototype.hasOwnProperty.call(node, '__proto__')) return { ok: false };
    const ctor = (node as Record<string, unknown>).constructor;
    if (
      Object.prototype.hasOwnProperty.call(node, 'constructor') &&
      typeof ctor === 'object' &&
      ctor !== null &&
      Object.prototype.hasOwnProperty.call(ctor, 'prototype')
    ) {
      return { ok: false };
    }
    for (const child of Object.values(node)) stack.push(child);
  }
  return { ok: true, value };
}

/** Ways to break JSON text: most give text that does not parse; the oracle parses to be sure. */
export const corruptJson = (text: string) =>
  fc.oneof(
    fc.nat({ max: Math.max(0, text.length - 1) }).map((n) => text.slice(0, n)),
    fc.constantFrom('}', ',', '{', ']', 'x', "'", '\u0000', ' garbage', '{}').map((tail) => text + tail),
    fc.constantFrom(
      "{'a':1}",
      '{a:1}',
      '{"a":1,}',
      '{"a":NaN}',
      '{"a":Infinity}',
      '{"a":undefined}',
      '{"a":01}',
      '{"a":.5}',
      '{"a":0x10}',
      '/* c */{}',
      '{"a":"\\x41"}',
      '{"a":"\u0001"}',
      'nul',
      'tru',
      '-',
      '"abc',
      '{"__proto__":{"isAdmin":true}}',
      '{"a":{"__proto__":{}}}',
      '[{"constructor":{"prototype":{"x":1}}}]',
      '{"a":1}{"b":2}',
      ' \n ',
    ),
    fc.uint8Array({ minLength: 1, maxLength: 64 }).map((bytes) => Buffer.from(bytes).toString('latin1')),
  );

export const WRONG_CONTENT_TYPES = [
  'text/plain',
  'text/plain; charset=utf-8',
  'application/x-www-form-urlencoded',
  'multipart/form-data; boundary=xyz',
  'application/xml',
  'text/json',
  'application/json-patch+json',
  'application/jsonx',
  'application/vnd.api+json',
  'application/*',
  '*/*',
  'application',
  '/json',
  'application/json/x',
  'application/json, text/plain',
  ';;',
  '',
  ' ',
  'image/png',
  'application/octet-stream',
];
