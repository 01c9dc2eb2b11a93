// Checks a payload against its type's JSON Schema (from GET /job-types) before it is sent: the
// keywords those schemas use. The server checks again; this only saves a round trip.

export function validate(schema, value, path = 'payload') {
  const errors = [];
  check(schema, value, path, errors);
  return errors;
}

function typeOf(value) {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  if (typeof value === 'number') return Number.isInteger(value) ? 'integer' : 'number';
  return typeof value;
}

function check(schema, value, path, errors) {
  if (!schema || schema === true) return;
  if (schema === false) { errors.push(`${path}: not allowed`); return; }
  const actual = typeOf(value);
  if (schema.type) {
    const allowed = [schema.type].flat();
    if (!allowed.includes(actual) && !(actual === 'integer' && allowed.includes('number'))) {
      errors.push(`${path}: must be ${allowed.join(' or ')}, not ${actual}`);
      return;
    }
  }
  if (schema.enum && !schema.enum.some(e => JSON.stringify(e) === JSON.stringify(value))) errors.push(`${path}: must be one of ${schema.enum.map(e => JSON.stringify(e)).join(', ')}`);
  if ('const' in schema && JSON.stringify(schema.const) !== JSON.stringify(value)) errors.push(`${path}: must be ${JSON.stringify(schema.const)}`);
  if (actual === 'string') {
    const length = [...value].length;
    if (schema.minLength !== undefined && length < schema.minLength) errors.push(`${path}: at least ${schema.minLength} characters`);
    if (schema.maxLength !== undefined && length > schema.maxLength) errors.push(`${path}: at most ${schema.maxLength} characters`);
    if (schema.pattern && !new RegExp(schema.pattern, 'u').test(value)) errors.push(`${path}: must match ${schema.pattern}`);
  }
  if (actual === 'integer' || actual === 'number') {
    if (schema.minimum !== undefined && value < schema.minimum) errors.push(`${path}: at least ${schema.minimum}`);
    if (schema.maximum !== undefined && value > schema.maximum) errors.push(`${path}: at most ${schema.maximum}`);
    if (schema.exclusiveMinimum !== undefined && value <= schema.exclusiveMinimum) errors.push(`${path}: more than ${schema.exclusiveMinimum}`);
    if (schema.exclusiveMaximum !== undefined && value >= schema.exclusiveMaximum) errors.push(`${path}: less than ${schema.exclusiveMaximum}`);
  }
  if (actual === 'array') {
    if (schema.minItems !== undefined && value.length < schema.minItems) errors.push(`${path}: at least ${schema.minItems} items`);
    if (schema.maxItems !== undefined && value.length > schema.maxItems) errors.push(`${path}: at most ${schema.maxItems} items`);
    value.forEach((item, i) => check(schema.items, item, `${path}[${i}]`, errors));
  }
  if (actual === 'object') {
    for (const name of schema.required ?? []) if (!(name in value)) errors.push(`${path}.${name}: required`);
    for (const [name, item] of Object.entries(value)) {
      if (schema.properties && name in schema.properties) check(schema.properties[name], item, `${path}.${name}`, errors);
      else if (schema.additionalProperties === false) errors.push(`${path}.${name}: not a field of this type`);
      else if (typeof schema.additionalProperties === 'object') check(schema.additionalProperties, item, `${path}.${name}`, errors);
    }
  }
}
