import { ValidateIf } from 'class-validator';

/**
 * The field may be left out, but when present it is validated, `null`
 * included (IsOptional would let `null` through to a NOT NULL column).
 */
export const Omittable = () => ValidateIf((_object, value) => value !== undefined);
