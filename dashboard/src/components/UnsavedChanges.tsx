/** Asks before leaving a page with unsaved edits: a dialog for a move inside the console (a tab,
 * a link, Back), the browser's own prompt for a reload or a closed tab (beforeunload). */
import { useBlocker, useRouter } from "@tanstack/react-router";
import { Button } from "@/components/ui/button";
import { Dialog, DialogContent, DialogDescription, DialogFooter, DialogHeader, DialogTitle } from "@/components/ui/dialog";

export function UnsavedChangesPrompt({ dirty, what = "your edits" }: { dirty: boolean; what?: string }) {
  // outside a router (a form rendered on its own, as in unit tests) there is no move to guard
  return useRouter({ warn: false }) ? <Guard dirty={dirty} what={what} /> : null;
}

function Guard({ dirty, what }: { dirty: boolean; what: string }) {
  const blocker = useBlocker({ shouldBlockFn: () => dirty, enableBeforeUnload: () => dirty, withResolver: true });
  const open = blocker.status === "blocked";
  return (
    <Dialog open={open} onOpenChange={(next) => !next && blocker.reset?.()}>
      <DialogContent>
        <DialogHeader>
          <DialogTitle>Leave without saving?</DialogTitle>
          <DialogDescription>If you leave this page now, {what} are lost. Stay to save them first.</DialogDescription>
        </DialogHeader>
        <DialogFooter>
          <Button variant="outline" onClick={() => blocker.reset?.()}>
            Stay
          </Button>
          <Button variant="destructive" onClick={() => blocker.proceed?.()}>
            Leave and lose {what}
          </Button>
        </DialogFooter>
      </DialogContent>
    </Dialog>
  );
}
