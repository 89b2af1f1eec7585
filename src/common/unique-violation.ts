/** True when a query failed on the named unique constraint or index (SQLSTATE 23505). */
export function isUniqueViolation(error: unknown, constraint: string): boolean {
  const driverError = (error as { driverError?: { code?: string; constraint?: string } })?.driverError ?? error;
  const { code, constraint: name } = (driverError ?? {}) as { code?: string; constraint?: string };
  return code === '23505' && name === constraint;
}
