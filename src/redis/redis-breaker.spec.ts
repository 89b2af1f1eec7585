import { describe, expect, it } from '@jest/globals';
import { RedisBreaker } from './redis-breaker.js';

/** A breaker on a clock the test moves by hand. */
function breakerAt(silenceMs = 250) {
  const clock = { now: 1_000 };
  const sut = new RedisBreaker<string>(silenceMs, () => clock.now);
  return { sut, clock, later: (ms: number) => (clock.now += ms) };
}

describe(RedisBreaker.name, () => {
  it('stays closed while Redis answers, however long the traffic lasts', () => {
    const { sut, later } = breakerAt();
    for (let i = 0; i < 100; i++) {
      sut.sent(`c${i}`);
      later(100);
      sut.answered(`c${i}`);
      expect(sut.check()).toBeNull();
    }
    expect(sut.isOpen).toBe(false);
    expect(sut.openings).toBe(0);
  });

  it('owes nothing and so is never silent when no command is out, however long it is idle', () => {
    const { sut, later } = breakerAt();
    later(60_000);
    expect(sut.silentIn()).toBeNull();
    expect(sut.check()).toBeNull();
  });

  it('counts silence from the first command owed, not from the last answer before an idle spell', () => {
    const { sut, later } = breakerAt();
    sut.sent('a');
    sut.answered('a');
    later(10_000);
    sut.sent('b');
    expect(sut.silentIn()).toBe(250);
    later(249);
    expect(sut.check()).toBeNull();
    later(1);
    expect(sut.check()).toEqual(['b']);
  });

  it('opens once Redis has owed an answer and said nothing for the silence, handing back every command owed', () => {
    const { sut, later } = breakerAt();
    sut.sent('a');
    later(100);
    sut.sent('b');
    later(100);
    sut.sent('c');
    expect(sut.silentIn()).toBe(50);
    later(50);
    expect(sut.check()).toEqual(['a', 'b', 'c']);
    expect(sut.isOpen).toBe(true);
    expect(sut.openings).toBe(1);
    // Open: nothing more to give up, and no silence to watch for.
    expect(sut.check()).toBeNull();
    expect(sut.silentIn()).toBeNull();
  });

  it('counts any answer, even to another command, as Redis speaking: a long queue that moves is not a silence', () => {
    const { sut, later } = breakerAt();
    sut.sent('slow');
    for (let i = 0; i < 10; i++) {
      sut.sent(`q${i}`);
      later(200);
      sut.answered(`q${i}`);
      expect(sut.check()).toBeNull();
    }
    expect(sut.silentIn()).toBe(250);
  });

  it('does not count a command that ended without an answer as Redis speaking', () => {
    const { sut, later } = breakerAt();
    sut.sent('a');
    sut.sent('b');
    later(200);
    sut.dropped('a');
    expect(sut.silentIn()).toBe(50);
    later(50);
    expect(sut.check()).toEqual(['b']);
  });

  it('opens at once on a timeout (N = 1), and a second trip while open changes nothing', () => {
    const { sut } = breakerAt();
    sut.sent('a');
    expect(sut.trip()).toEqual(['a']);
    expect(sut.trip()).toBeNull();
    expect(sut.openings).toBe(1);
  });

  it('closes when the probe is answered, and opens again on the next silence', () => {
    const { sut, later } = breakerAt();
    sut.sent('a');
    later(250);
    sut.check();
    // The probe goes out and is answered while open: that alone does not close it; the owner closes it.
    sut.sent('ping');
    later(5_000);
    sut.answered('ping');
    expect(sut.isOpen).toBe(true);
    sut.close();
    expect(sut.isOpen).toBe(false);
    expect(sut.silentIn()).toBeNull();

    sut.sent('b');
    later(250);
    expect(sut.check()).toEqual(['b']);
    expect(sut.openings).toBe(2);
  });

  it('forgets what a lost connection owed, so a reconnection does not start silent', () => {
    const { sut, later } = breakerAt();
    sut.sent('a');
    sut.forget();
    later(1_000);
    expect(sut.check()).toBeNull();
    sut.sent('b');
    expect(sut.silentIn()).toBe(250);
  });
});
