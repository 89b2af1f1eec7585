/** Who is calling, once the auth guard has proved it. */
export type Principal =
  | { kind: 'admin' }
  | { kind: 'driver'; driverId: string }
  | { kind: 'driver-backend'; messageId: string }
  | { kind: 'vendure'; messageId: string };

export type CallerKind = Principal['kind'];
