import { ValidateBy, ValidationOptions } from 'class-validator';

/**
 * At most `max` characters, counted as PostgreSQL counts a varchar's:
 * Unicode code points. (class-validator's MaxLength leaves variation
 * selectors such as U+FE0F out of its count, so a string it accepts could
 * still be too long for the column.)
 */
export const MaxChars = (max: number, options?: ValidationOptions): PropertyDecorator =>
  ValidateBy(
    {
      name: 'maxChars',
      constraints: [max],
      validator: {
        validate: (value: unknown) => typeof value === 'string' && [...value].length <= max,
        defaultMessage: (args) => `${args?.property} must be at most ${max} characters`,
      },
    },
    options,
  );
