import { ForbiddenError } from '../shared/errors.js';

/** The roles a user can have, from most to least powerful. */
export const roles = ['admin', 'contributor', 'viewer'] as const;
export type Role = (typeof roles)[number];

/** Who is acting: a user of the REST API or UI, or the operator at the CLI (an administrator). */
export interface Actor {
  id: string;
  name: string;
  role: Role;
}

/**
 * The permission table: the one place that says which role may do what. Services ask
 * `assertCan` before acting; nothing else checks roles.
 */
const permissions = {
  'connections.manage': ['admin'],
  'connections.use': ['admin', 'contributor'],
  'connections.read': ['admin', 'contributor', 'viewer'],
  'exports.manage': ['admin', 'contributor'],
  'exports.remove': ['admin'],
  'exports.run': ['admin', 'contributor'],
  'exports.read': ['admin', 'contributor', 'viewer'],
} as const satisfies Record<string, readonly Role[]>;

export type Permission = keyof typeof permissions;

export function can(actor: Actor, permission: Permission): boolean {
  return (permissions[permission] as readonly Role[]).includes(actor.role);
}

/** Throws a ForbiddenError naming the permission unless `actor` has it. */
export function assertCan(actor: Actor, permission: Permission, what: string = permission): void {
  if (!can(actor, permission)) {
    throw new ForbiddenError(`${actor.role}s may not ${what}`, 'permission_denied');
  }
}
