import request from 'supertest';
import { admin, bearer, TestApp } from './test-app.js';

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

/** A driver registered through the API, located at `point` and AVAILABLE with a fresh heartbeat: choosable. */
export async function availableDriver(t: TestApp, point: { lat: number; lon: number }): Promise<CreatedDriver> {
  const driver = await newDriver(t);
  await request(t.server).patch(`/drivers/${driver.id}/location`).set(bearer(driver.token)).send(point).expect(200);
  await request(t.server).patch(`/drivers/${driver.id}/status`).set(bearer(driver.token)).send({ status: 'AVAILABLE' }).expect(200);
  return driver;
}
