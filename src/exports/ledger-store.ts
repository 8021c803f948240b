import { sql, type Kysely, type RawBuilder } from 'kysely';
import { dialectOf, jsonArrayElements, KEYS_PER_QUERY } from '../db/dialect.js';
import { chunks } from '../shared/chunks.js';
import type { Database } from '../db/schema.js';

/**
 * A contact an upsert request carried, as its checkpoint (run_batch_contacts.contacts) records
 * it: a JSON array of these. Settling the request's job writes the confirmed ones to the ledger.
 */
export type SentContact = [
  email: string,
  hash: string,
  profileKey: string,
  profileId: string,
  /** The profile's version (updated_at) the payload was built from. */
  version: string,
  /** 1 when the contact was in the list before the export first sent it (ledger `adopted`). */
  adopted: 0 | 1,
];

/**
 * The ledger of an export: per email, the contact it delivered (the payload's hash), the profile
 * it came from and that profile's version. Runs read it to send only what is new or changed, and
 * mirror exports to remove only contacts they added. It learns only what the destination
 * confirmed; a profile that no longer maps to its contact (a changed email, an invalid one) gives
 * the contact up (profile_id null), and a mirror export removes such contacts.
 */
export class LedgerStore {
  constructor(private readonly db: Kysely<Database>) {}

  /**
   * Records that the ledger's entries were all checked against the settings `fingerprint` (list,
   * mapping; see usesSettings). A run does so once it planned every member with them: until
   * then, the entries' hashes and versions may be those of other settings, and every member is
   * checked again.
   */
  async recordSettings(exportId: string, fingerprint: string): Promise<void> {
    await this.db
      .updateTable('exports')
      .set({ ledger_settings: fingerprint })
      .where('id', '=', exportId)
      .execute();
  }

  /**
   * Records the contacts of a settled request that the destination confirmed: all those its
   * checkpoint (run_batch_contacts, a JSON array of SentContact) holds, but the `except` emails
   * it refused. The database reads the checkpoint where it is stored and unpacks it: one
   * statement per request, and no array of tens of thousands of contacts in memory.
   */
  async confirmDelivered(
    exportId: string,
    checkpoint: { runId: string; seq: number },
    except: readonly string[],
    deliveredAt: string,
  ): Promise<void> {
    const dialect = dialectOf(this.db);
    const contact = jsonArrayElements(
      dialect,
      sql<string>`(select c.contacts from run_batch_contacts c
        where c.run_id = ${checkpoint.runId} and c.seq = ${checkpoint.seq})`,
    );
    // One-element arrays, so both dialects read the email the same way (`->> 0`). An entry that
    // exists keeps its `adopted`: whoever first put the contact in the list still did. (Element 5
    // is absent from checkpoints written before it existed: 0.)
    const refused = jsonArrayElements(dialect, JSON.stringify(except.map((email) => [email])));
    await sql`
      insert into export_ledger (export_id, email, hash, delivered_at, profile_id, seen, adopted)
      select ${exportId}, e.v ->> 0, e.v ->> 1, ${deliveredAt}, e.v ->> 3, e.v ->> 4,
        coalesce(cast(e.v ->> 5 as integer), 0)
      from ${contact} as e
      where (e.v ->> 0) not in (select r.v ->> 0 from ${refused} as r)
      order by e.v ->> 0
      on conflict (export_id, email) do update set
        hash = excluded.hash,
        delivered_at = excluded.delivered_at,
        profile_id = excluded.profile_id,
        seen = excluded.seen`.execute(this.db);
  }

  /**
   * Records that these delivered contacts are still exactly what their profiles' current versions
   * give (nothing to send): one statement, as for confirmDelivered.
   */
  async markSeen(
    exportId: string,
    contacts: readonly { email: string; profileId: string; seen: string }[],
  ): Promise<void> {
    if (contacts.length === 0) return;
    const json = JSON.stringify(contacts.map((c) => [c.email, c.profileId, c.seen]));
    await this.setProfileOfEntries(exportId, json, {
      profileId: sql`e.v ->> 1`,
      seen: sql`e.v ->> 2`,
    });
  }

  /**
   * These delivered contacts are no longer what their profiles give, though their entries say
   * they were checked at the profiles' current versions (the export's mapping or list changed):
   * each is marked to be checked again, so that it stays due until the destination confirms
   * what the run sends (or the run settles it otherwise).
   */
  async markUnseen(
    exportId: string,
    contacts: readonly { email: string; profileId: string }[],
  ): Promise<void> {
    await this.uncheckEntries(exportId, contacts, { keepProfile: true });
  }

  /**
   * A page, in email order after `afterEmail`, of the export's entries that stand checked at
   * their profiles' versions (seen): a run that checked its members against new settings goes
   * through them for those it did not check.
   */
  async checkedPage(
    exportId: string,
    afterEmail: string,
    limit: number,
  ): Promise<{ email: string; profileId: string }[]> {
    const rows = await this.db
      .selectFrom('export_ledger')
      .select(['email', 'profile_id'])
      .where('export_id', '=', exportId)
      .where('email', '>', afterEmail)
      .where('seen', 'is not', null)
      .where('profile_id', 'is not', null)
      .orderBy('email')
      .limit(limit)
      .execute();
    return rows.map((row) => ({ email: row.email, profileId: row.profile_id ?? '' }));
  }

  /**
   * These profiles no longer map to the contacts they delivered (their email changed, or is now
   * invalid): the contacts are given up, and a mirror export removes them. An entry another
   * profile has claimed since is left alone.
   */
  async giveUp(
    exportId: string,
    contacts: readonly { email: string; profileId: string }[],
  ): Promise<void> {
    await this.uncheckEntries(exportId, contacts, { keepProfile: false });
  }

  /**
   * Clears `seen` of the entries of these (email, profile) pairs, and their profile unless
   * `keepProfile`; an entry another profile holds since is left alone.
   */
  private async uncheckEntries(
    exportId: string,
    contacts: readonly { email: string; profileId: string }[],
    options: { keepProfile: boolean },
  ): Promise<void> {
    if (contacts.length === 0) return;
    const json = JSON.stringify(contacts.map((c) => [c.email, c.profileId]));
    await this.setProfileOfEntries(
      exportId,
      json,
      { profileId: options.keepProfile ? sql`e.v ->> 1` : sql`null`, seen: sql`null` },
      sql`l.profile_id = e.v ->> 1`,
    );
  }

  /**
   * Sets `profile_id` and `seen` of the export's entries whose emails `json` lists (an array of
   * arrays, the email first; each element is `e.v`, the entry `l`), those meeting `where`.
   *
   * PostgreSQL joins the elements to the entries as it should. SQLite, given the same UPDATE ...
   * FROM, reads every entry of the export and scans all the elements for each: 2,000 contacts
   * in a ledger of 77,000 took 117 s, and a `--full` run or a changed mapping marks every member
   * so. Its upsert over a CROSS JOIN, whose order SQLite keeps, looks each element up by the
   * primary key instead (25 ms); every row it inserts exists, so each one updates.
   */
  private async setProfileOfEntries(
    exportId: string,
    json: string,
    values: { profileId: RawBuilder<unknown>; seen: RawBuilder<unknown> },
    where: RawBuilder<unknown> = sql`true`,
  ): Promise<void> {
    const dialect = dialectOf(this.db);
    const element = jsonArrayElements(dialect, json);
    if (dialect === 'sqlite') {
      await sql`
        insert into export_ledger (export_id, email, hash, delivered_at, profile_id, seen, adopted)
        select l.export_id, l.email, l.hash, l.delivered_at, ${values.profileId}, ${values.seen},
          l.adopted
        from ${element} as e
        cross join export_ledger l on l.export_id = ${exportId} and l.email = e.v ->> 0
        where ${where}
        on conflict (export_id, email) do update set
          profile_id = excluded.profile_id,
          seen = excluded.seen`.execute(this.db);
      return;
    }
    await sql`
      update export_ledger l set profile_id = ${values.profileId}, seen = ${values.seen}
      from ${element} as e
      where l.export_id = ${exportId} and l.email = e.v ->> 0 and ${where}`.execute(this.db);
  }

  /**
   * Of `emails`, those the ledger holds for a profile that is still a member of `segmentIds` and
   * unchanged since (the entry is at the profile's current version), with that profile's id:
   * another member asking for such an email is a duplicate. A holder that changed may map to
   * another email now (two profiles swapping emails), so it holds nothing here: whichever of the
   * two this run plans first takes the email.
   */
  async heldByMembers(
    exportId: string,
    segmentIds: readonly string[],
    emails: readonly string[],
  ): Promise<Map<string, string>> {
    const held = new Map<string, string>();
    if (segmentIds.length === 0) return held;
    for (const chunk of chunks(emails, KEYS_PER_QUERY)) {
      const rows = await this.db
        .selectFrom('export_ledger as l')
        .select(['l.email', 'l.profile_id'])
        .where('l.export_id', '=', exportId)
        .where('l.email', 'in', chunk)
        .where((eb) =>
          eb.exists(
            eb
              .selectFrom('segment_members as m')
              .select('m.profile_id')
              .where('m.segment_id', 'in', [...segmentIds])
              .whereRef('m.profile_id', '=', 'l.profile_id'),
          ),
        )
        .where((eb) =>
          eb.exists(
            eb
              .selectFrom('profiles as p')
              .select('p.id')
              .whereRef('p.id', '=', 'l.profile_id')
              .whereRef('p.updated_at', '=', 'l.seen'),
          ),
        )
        .execute();
      for (const row of rows) if (row.profile_id !== null) held.set(row.email, row.profile_id);
    }
    return held;
  }

  /**
   * A page, in email order after `afterEmail`, of the contacts the export added to its list that
   * no member of `segmentIds` maps to any more: their profile left the segments, or gave the
   * contact up. Contacts it found in the list already (adopted) are never among them.
   */
  async leaverPage(
    exportId: string,
    segmentIds: readonly string[],
    afterEmail: string,
    limit: number,
  ): Promise<string[]> {
    const rows = await this.db
      .selectFrom('export_ledger as l')
      .select('l.email')
      .where('l.export_id', '=', exportId)
      .where('l.email', '>', afterEmail)
      .where('l.adopted', '=', 0)
      .where((eb) =>
        eb.or([
          eb('l.profile_id', 'is', null),
          eb.not(
            eb.exists(
              eb
                .selectFrom('segment_members as m')
                .select('m.profile_id')
                .where('m.segment_id', 'in', [...segmentIds])
                .whereRef('m.profile_id', '=', 'l.profile_id'),
            ),
          ),
        ]),
      )
      .orderBy('l.email')
      .limit(limit)
      .execute();
    return rows.map((row) => row.email);
  }

  /**
   * Of `emails` (leavers of export `exportId`), those another export of the same list wants: it
   * delivered them to a profile still in its segments, or the profile the leaver came from is in
   * its segments now (it moved from one export's segments to the other's), so the other sends it,
   * or is sending it, unconfirmed yet. A mirror export leaves them in the list (two exports of
   * one list, a duplicated export, say); its own entry stays, so it removes them once nobody
   * wants them any more.
   */
  async wantedByOtherExports(
    exportId: string,
    listId: string,
    emails: readonly string[],
  ): Promise<Set<string>> {
    const wanted = new Set<string>();
    for (const chunk of chunks(emails, KEYS_PER_QUERY)) {
      const delivered = await this.db
        .selectFrom('export_ledger as l')
        .innerJoin('exports as e', 'e.id', 'l.export_id')
        .select('l.email')
        .where('e.list_id', '=', listId)
        .where('e.id', '<>', exportId)
        .where('l.email', 'in', chunk)
        .where((eb) =>
          eb.exists(
            eb
              .selectFrom('export_segments as s')
              .innerJoin('segment_members as m', 'm.segment_id', 's.segment_id')
              .select('m.profile_id')
              .whereRef('s.export_id', '=', 'e.id')
              .whereRef('m.profile_id', '=', 'l.profile_id'),
          ),
        )
        .execute();
      for (const row of delivered) wanted.add(row.email);
      const moved = await this.db
        .selectFrom('export_ledger as l')
        .select('l.email')
        .where('l.export_id', '=', exportId)
        .where('l.email', 'in', chunk)
        .where((eb) =>
          eb.exists(
            eb
              .selectFrom('exports as e')
              .innerJoin('export_segments as s', 's.export_id', 'e.id')
              .innerJoin('segment_members as m', 'm.segment_id', 's.segment_id')
              .select('m.profile_id')
              .where('e.list_id', '=', listId)
              .where('e.id', '<>', exportId)
              .whereRef('m.profile_id', '=', 'l.profile_id'),
          ),
        )
        .execute();
      for (const row of moved) wanted.add(row.email);
    }
    return wanted;
  }

  /** Of `emails`, those the ledger holds (delivered by the export, at any time). */
  held(exportId: string, emails: readonly string[]): Promise<Set<string>> {
    return this.deliveredSince(exportId, emails, '');
  }

  /** Of `emails`, those the ledger says were delivered at `since` or later. */
  async deliveredSince(
    exportId: string,
    emails: readonly string[],
    since: string,
  ): Promise<Set<string>> {
    const recent = new Set<string>();
    for (const chunk of chunks(emails, KEYS_PER_QUERY)) {
      const rows = await this.db
        .selectFrom('export_ledger')
        .select('email')
        .where('export_id', '=', exportId)
        .where('email', 'in', chunk)
        .where('delivered_at', '>=', since)
        .execute();
      for (const row of rows) recent.add(row.email);
    }
    return recent;
  }

  /** Forgets ledger entries (contacts removed from the list, or found gone). */
  async forgetDelivered(exportId: string, emails: readonly string[]): Promise<void> {
    for (const chunk of chunks(emails, KEYS_PER_QUERY)) {
      await this.db
        .deleteFrom('export_ledger')
        .where('export_id', '=', exportId)
        .where('email', 'in', chunk)
        .execute();
    }
  }

  async forgetAllDelivered(exportId: string): Promise<void> {
    await this.db.deleteFrom('export_ledger').where('export_id', '=', exportId).execute();
  }

  /**
   * How many contacts a mirror run would remove now (for previews), read without writing: the
   * ledger's leavers (leaverPage) and the contacts `givenUp` by their members (a run gives those
   * up first), but those the run would plan (`planned`) and those other exports of the list
   * still want. Adopted contacts are never counted.
   */
  async countRemovals(
    exportId: string,
    listId: string,
    segmentIds: readonly string[],
    givenUp: readonly { email: string; profileId: string }[],
    planned: { has(email: string): boolean },
  ): Promise<number> {
    let count = 0;
    // Page by page, as a run removes them: a list's leavers can be many.
    const countRemovable = async (emails: string[]) => {
      const wanted = await this.wantedByOtherExports(exportId, listId, emails);
      for (const email of emails) if (!wanted.has(email)) count += 1;
    };
    for (let after = ''; ;) {
      const page = await this.leaverPage(exportId, segmentIds, after, 5_000);
      const last = page.at(-1);
      if (last === undefined) break;
      await countRemovable(page.filter((email) => !planned.has(email)));
      after = last;
    }
    // As giveUp: only an entry still held for the profile that gives it up.
    const givers = new Map(givenUp.map((c) => [c.email, c.profileId]));
    const dropped = [...givers.keys()].filter((email) => !planned.has(email));
    for (const chunk of chunks(dropped, KEYS_PER_QUERY)) {
      const rows = await this.db
        .selectFrom('export_ledger')
        .select(['email', 'profile_id'])
        .where('export_id', '=', exportId)
        .where('email', 'in', chunk)
        .where('adopted', '=', 0)
        .execute();
      await countRemovable(
        rows.filter((row) => row.profile_id === givers.get(row.email)).map((row) => row.email),
      );
    }
    return count;
  }

  /**
   * Whether the ledger's entries were checked against the settings `fingerprint` (recordSettings):
   * if not, a run (and a preview) checks every member again.
   */
  async usesSettings(exportId: string, fingerprint: string): Promise<boolean> {
    const row = await this.db
      .selectFrom('exports')
      .select('ledger_settings')
      .where('id', '=', exportId)
      .executeTakeFirst();
    return row?.ledger_settings === fingerprint;
  }

  /** Whether the export delivered anything yet. */
  async isEmpty(exportId: string): Promise<boolean> {
    const row = await this.db
      .selectFrom('export_ledger')
      .select('email')
      .where('export_id', '=', exportId)
      .limit(1)
      .executeTakeFirst();
    return row === undefined;
  }

  async ledgerSize(exportId: string): Promise<number> {
    const row = await this.db
      .selectFrom('export_ledger')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('export_id', '=', exportId)
      .executeTakeFirstOrThrow();
    return Number(row.n);
  }
}
