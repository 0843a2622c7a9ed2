import { CakeError } from '../../model/errors.js';
import type { CliContext } from '../context.js';

/** `cake cook`: being built (see the issue tracker). */
export async function cookCommand(_ctx: CliContext, _args: string[], _opts: Record<string, unknown>): Promise<number> {
  throw new CakeError('internal', 'cake cook is not implemented yet', { hint: 'see `cake help` for the commands that work today' });
}
