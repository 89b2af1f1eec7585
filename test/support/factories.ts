import request from 'supertest';
import { admin, TestApp } from './test-app.js';

let phoneSequence = 0;

/** A unique, valid E.164 phone number. */
export function newPhone(): string {
  phoneSequence += 1;
  return `+49151${String(process.pid % 1000).padStart(3, '0')}${String(phoneSequence).padStart(5, '0')}`;
}

export interface CreatedDriver {
  id: string;
  token: string;
  body: Record<string, unknown>;
}

/** Registers a driver through the API, as an operator would. */
export async function newDriver(t: TestApp, fields: Record<string, unknown> = {}): Promise<CreatedDriver> {
  const response = await request(t.server)
    .post('/drivers')
    .set(admin)
    .send({ name: 'Test Driver', phone: newPhone(), ...fields })
    .expect(201);
  return { id: response.body.id, token: response.body.token, body: response.body };
}
