/**
 * A set of per-connection objects that the garbage collector can forget.
 *
 * The relay keeps its connections in flight, and the deadlines pending for
 * them, in collections that live as long as the daemon while their members
 * come and go by the thousand. A `Set` does that badly under V8: once the
 * set is in the old generation, members that already left it still survive
 * young-generation collections, and everything they reference (sockets,
 * promises, closures: a whole connection) is promoted and waits for a full
 * collection. Churning 20 000 objects of about 300 bytes through a set of
 * 10 (`_promotion_probe.ts roster`) promoted 158 bytes of each, none with
 * this array; the daemon, after a burst of connections, promoted 2.6 KB per
 * connection with sets and 0.4 KB with rosters.
 *
 * A roster is an array with swap-remove: each member records its index (its
 * `seat`), so adding and deleting cost O(1), and a deleted member's slot is
 * overwritten or cleared at once. Order is not kept.
 *
 * @example
 * ```ts
 * import { Roster } from "./roster.ts";
 * const r = new Roster<{ seat: number; name: string }>();
 * const a = { seat: -1, name: "a" };
 * r.add(a);
 * r.delete(a);
 * console.log(r.size); // 0
 * ```
 *
 * @module
 */

/** A member of a roster: its index there, -1 when in none. */
export interface Seated {
  /** Its index in the roster it is in; -1 when in none. Only the roster writes it. */
  seat: number;
}

/**
 * An unordered set of {@linkcode Seated} objects, each in at most one
 * roster at a time; see the module doc.
 */
export class Roster<T extends Seated> implements Iterable<T> {
  readonly #members: T[] = [];

  /** How many members it has. */
  get size(): number {
    return this.#members.length;
  }

  /**
   * Whether `member` is in this roster.
   *
   * @param member The object.
   * @returns True when it is.
   */
  has(member: T): boolean {
    return member.seat >= 0 && this.#members[member.seat] === member;
  }

  /**
   * Add `member`; no effect when it is in already.
   *
   * @param member An object in no other roster.
   */
  add(member: T): void {
    if (this.has(member)) return;
    member.seat = this.#members.length;
    this.#members.push(member);
  }

  /**
   * Remove `member`: the last member takes its seat.
   *
   * @param member The object.
   * @returns Whether it was in.
   */
  delete(member: T): boolean {
    if (!this.has(member)) return false;
    const last = this.#members.pop()!;
    if (last !== member) {
      this.#members[member.seat] = last;
      last.seat = member.seat;
    }
    member.seat = -1;
    return true;
  }

  /**
   * Visit every member, in no particular order. The visitor may delete the
   * member it is at. Deleting another one moves the last member into its
   * seat, so that one may be visited twice (and may be one added meanwhile);
   * no member present throughout is missed.
   */
  *[Symbol.iterator](): IterableIterator<T> {
    const members = this.#members;
    for (let i = members.length - 1; i >= 0; i--) {
      const member = members[i];
      if (member !== undefined) yield member;
    }
  }
}
